// PURE: libvirt domain states and reasons (numeric from domstats, text from virsh) -> PowerState.
import { PowerState } from "#shared/protocol.js";

// virDomainState order; names as virsh prints them.
const STATE_NAMES = ["no state", "running", "idle", "paused", "in shutdown", "shut off", "crashed", "pmsuspended"] as const;

// Reason names per state, as virsh's domstate --reason prints them (virsh-domain-monitor.c).
const REASONS: Record<number, readonly string[]> = {
  0: ["unknown"],
  1: ["unknown", "booted", "migrated", "restored", "from snapshot", "unpaused", "migration canceled", "save canceled", "event wakeup", "crashed", "post-copy", "post-copy failed"],
  2: ["unknown"],
  3: ["unknown", "user", "migrating", "saving", "dumping", "I/O error", "watchdog", "from snapshot", "shutting down", "creating snapshot", "crashed", "starting up", "post-copy", "post-copy failed", "api error"],
  4: ["unknown", "user"],
  5: ["unknown", "shutdown", "destroyed", "crashed", "migrated", "saved", "failed", "from snapshot", "daemon"],
  6: ["unknown", "panicked"],
  7: ["unknown"],
};

const POWER: readonly PowerState[] = [
  PowerState.POWER_STATE_UNSPECIFIED,
  PowerState.POWER_STATE_RUNNING,
  PowerState.POWER_STATE_BLOCKED,
  PowerState.POWER_STATE_PAUSED,
  PowerState.POWER_STATE_SHUTTING_DOWN,
  PowerState.POWER_STATE_SHUTOFF,
  PowerState.POWER_STATE_CRASHED,
  PowerState.POWER_STATE_SUSPENDED,
];

export interface DomainState {
  powerState: PowerState;
  reason: string;
}

export function stateFromNumbers(state: number, reason: number): DomainState {
  return {
    powerState: POWER[state] ?? PowerState.POWER_STATE_UNSPECIFIED,
    reason: REASONS[state]?.[reason] ?? `reason-${reason}`,
  };
}

/** `virsh domstate --reason` output, e.g. "shut off (saved)" or "running (booted)". */
export function parseDomstateReason(text: string): DomainState {
  const m = /^\s*([a-z ]+?)\s*(?:\((.*)\))?\s*$/m.exec(text.trim());
  const name = m?.[1] ?? "";
  const idx = STATE_NAMES.indexOf(name as (typeof STATE_NAMES)[number]);
  // virsh prints "blocked" for some drivers' idle state
  const state = idx >= 0 ? idx : name === "blocked" ? 2 : 0;
  return { powerState: POWER[state] ?? PowerState.POWER_STATE_UNSPECIFIED, reason: m?.[2] ?? "unknown" };
}

/** A domain that is running in some form (has a QEMU process). */
export function isActive(p: PowerState): boolean {
  return (
    p === PowerState.POWER_STATE_RUNNING ||
    p === PowerState.POWER_STATE_PAUSED ||
    p === PowerState.POWER_STATE_BLOCKED ||
    p === PowerState.POWER_STATE_SHUTTING_DOWN ||
    p === PowerState.POWER_STATE_SUSPENDED
  );
}
