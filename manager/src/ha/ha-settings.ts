// HA's settings (CloudStack's names where CloudStack has one). Defaults are sized from the
// heartbeat settings, so a fast heartbeat gives fast fencing: with ping.interval 1 s and
// ping.timeout 3, a dead host is Suspect at 3 s, its agent has fenced itself at 3 s without the
// manager and its storage, and it is Down once its storage heartbeat is 5 s old.
import { z } from "zod";
import { booleanSetting, type SettingDefinition, type SettingsRegistry } from "../settings/settings-registry.js";
import { LIVENESS_SETTINGS } from "../hosts/host-liveness.js";

export const HA_SETTINGS_NAMES = {
  enabled: "ha.enabled",
  selfFenceAfterMs: "kvm.heartbeat.update.timeout",
  storageHeartbeatIntervalMs: "kvm.ha.heartbeat.interval.ms",
  fenceMarginMs: "ha.fence.margin.ms",
  probeNeighbours: "ha.probe.neighbours",
  probeTimeoutMs: "kvm.ha.activity.check.timeout",
  alertRecheckMs: "ha.alert.recheck.interval.ms",
  maxRetries: "max.retries",
  restartBackoffMs: "ha.restart.backoff.ms",
  timeBetweenFailures: "time.between.failures",
} as const;

const N = HA_SETTINGS_NAMES;

export const HA_SETTINGS: SettingDefinition[] = [
  {
    name: N.enabled,
    description: "HA on or off: when off, a Suspect host is not investigated (it stays Suspect, its VMs Unknown), no host is declared Down automatically and no VM is restarted.",
    schema: booleanSetting,
    default: true,
  },
  {
    // CloudStack's agent property (ms): how long the KVM heartbeat may fail before the host reboots itself.
    name: N.selfFenceAfterMs,
    description: "Self-fencing: an agent that can neither reach the manager nor write its storage heartbeat for this long hard-stops its VMs (ms; sent to agents as self_fence_after_ms). 0: the liveness window (ping.interval x ping.timeout). -1: self-fencing off (no host is then declared Down automatically).",
    schema: z.number().int(),
    range: { min: -1, max: 3_600_000 },
    default: 0,
  },
  {
    name: N.storageHeartbeatIntervalMs,
    description: "How often agents write their storage heartbeat (ms; sent as storage_heartbeat_interval_ms). 0: ping.interval.",
    schema: z.number().int(),
    range: { min: 0, max: 600_000 },
    default: 0,
  },
  {
    name: N.fenceMarginMs,
    description: "How much older than the self-fencing time a Suspect host's storage heartbeat must be before it is declared Down (clock skew, the last write's interval).",
    schema: z.number().int(),
    range: { min: 0, max: 3_600_000 },
    default: 2000,
  },
  {
    name: N.probeNeighbours,
    description: "How many Up hosts of a Suspect host's cluster (with a storage heartbeat dir) are asked to probe it.",
    schema: z.number().int(),
    range: { min: 1, max: 32 },
    default: 3,
  },
  {
    // CloudStack's name (there in seconds); here in ms.
    name: N.probeTimeoutMs,
    description: "How long a neighbour's probe of a Suspect host may take (ms).",
    schema: z.number().int(),
    range: { min: 100, max: 30_000 },
    default: 1000,
  },
  {
    name: N.alertRecheckMs,
    description: "How often a host in Alert (inconclusive investigation) is investigated again (ms).",
    schema: z.number().int(),
    range: { min: 500, max: 86_400_000 },
    default: 5000,
  },
  {
    // CloudStack's max.retries: attempts of an HA restart.
    name: N.maxRetries,
    description: "Restarts on its host of a VM whose domain stopped without an API call (run strategy Always / RerunOnFailure, or HA), within time.between.failures; one more stop leaves it in Error (crash loop).",
    schema: z.number().int(),
    range: { min: 0, max: 100 },
    default: 5,
  },
  {
    name: N.restartBackoffMs,
    description: "Wait before the first restart of a stopped HA VM on its host (ms); doubled at each further restart (at most 5 minutes).",
    schema: z.number().int(),
    range: { min: 0, max: 600_000 },
    default: 1000,
  },
  {
    // CloudStack's time.between.failures (seconds).
    name: N.timeBetweenFailures,
    description: "A VM that ran this long since its last restart has its restart count reset (seconds).",
    schema: z.number(),
    range: { min: 1, max: 604_800 },
    default: 3600,
  },
];

/** HA's settings as read at each use (a change applies at the next check). */
export class HaSettings {
  constructor(private readonly r: Pick<SettingsRegistry, "number" | "get">) {}

  enabled(): boolean { return this.r.get<boolean>(N.enabled); }
  private livenessWindowMs(): number {
    return Math.round(this.r.number(LIVENESS_SETTINGS.interval) * 1000 * this.r.number(LIVENESS_SETTINGS.missFactor));
  }
  /** 0: self-fencing off. */
  selfFenceAfterMs(): number {
    const v = this.r.number(N.selfFenceAfterMs);
    return v < 0 ? 0 : v === 0 ? this.livenessWindowMs() : v;
  }
  storageHeartbeatIntervalMs(): number {
    const v = this.r.number(N.storageHeartbeatIntervalMs);
    return v > 0 ? v : Math.round(this.r.number(LIVENESS_SETTINGS.interval) * 1000);
  }
  fenceMarginMs(): number { return this.r.number(N.fenceMarginMs); }
  probeNeighbours(): number { return this.r.number(N.probeNeighbours); }
  probeTimeoutMs(): number { return this.r.number(N.probeTimeoutMs); }
  alertRecheckMs(): number { return this.r.number(N.alertRecheckMs); }
  maxRetries(): number { return this.r.number(N.maxRetries); }
  restartBackoffMs(): number { return this.r.number(N.restartBackoffMs); }
  timeBetweenFailuresMs(): number { return this.r.number(N.timeBetweenFailures) * 1000; }
  /** Whether a change of this setting changes what agents are told. */
  static tellsAgents(name: string): boolean {
    return name === N.selfFenceAfterMs || name === N.storageHeartbeatIntervalMs
      || name === LIVENESS_SETTINGS.interval || name === LIVENESS_SETTINGS.missFactor;
  }
}
