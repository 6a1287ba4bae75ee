// Settings: every knob an admin tunes at run time, with its type, default, validation and the
// scopes it may be set at (setting-scope.ts), in one registry. Values live in the settings table;
// reads come from memory (kept current on every manager process by settings-service.ts).
// Every numeric setting has a sane range (min..max, shown by GET /v1/admin/settings): a value far
// outside it (an over-provisioning factor of 1e308) would silently switch a check off.
import { z } from "zod";
import { InvalidArgumentError, NotFoundError } from "#shared/errors.js";
import { contextChain, GLOBAL, parseScopeKey, scopeKey, type ScopeRef, type SettingContext, type SettingScope } from "./setting-scope.js";

export interface SettingDefinition<T = unknown> {
  name: string;
  description: string;
  schema: z.ZodType<T>;
  default: T;
  /** Allowed values of a numeric setting, inclusive (required for numbers). */
  range?: { min: number; max: number };
  /** Validation that needs more than the schema (e.g. policy names known to the allocator). */
  check?: (value: T) => void;
  /**
   * Scopes the setting may be set at besides global (global is always allowed). Absent: global
   * only. A narrower scope is only useful where the reader resolves the value for a context.
   */
  scopes?: readonly SettingScope[];
}

/** The scopes a definition allows, global first. */
export function allowedScopes(d: SettingDefinition): SettingScope[] {
  return ["global", ...(d.scopes ?? []).filter((s) => s !== "global")];
}

/** A boolean setting: JSON true or false, nothing that merely looks like one ("true", 1, "yes"). */
export const booleanSetting = z.boolean({ error: "must be true or false (a JSON boolean)" });

export const HOST_MEMORY_RESERVE_SETTING = "host.memory.reserve.mib";
export const RECONCILE_FULL_INTERVAL_SETTING = "host.reconcile.full.interval.ms";
export const JOB_MAX_ATTEMPTS_SETTING = "job.max.attempts";
export const IDEMPOTENCY_TTL_SETTING = "api.idempotency.ttl.hours";

export const CORE_SETTINGS: SettingDefinition[] = [
  {
    // CloudStack's name and unit (seconds); fractions allowed (tests run with fast heartbeats).
    name: "ping.interval",
    description: "How often agents send a heartbeat with the power state of every domain (seconds).",
    schema: z.number(),
    range: { min: 0.2, max: 600 },
    default: 10,
  },
  {
    // Heartbeats that report what the last one did are not reconciled (vm/reconcile-on-change.ts).
    name: RECONCILE_FULL_INTERVAL_SETTING,
    description: "How often each host's heartbeat is reconciled against the database even when it reports nothing new (ms, ±25% per host).",
    schema: z.number().int(),
    range: { min: 1000, max: 3_600_000 },
    default: 60_000,
  },
  {
    name: HOST_MEMORY_RESERVE_SETTING,
    description: "Memory kept for the host itself, not given to VMs (MiB); per cluster or host for hosts that need more or less.",
    scopes: ["cluster", "host"],
    schema: z.number().int(),
    range: { min: 0, max: 1_048_576 },
    default: 2048,
  },
  {
    name: "vm.deploy.timeout.ms",
    description: "How long a deploy waits for the agent to report the domain running.",
    schema: z.number().int(),
    range: { min: 1000, max: 3_600_000 },
    default: 180_000,
  },
  {
    name: "vm.shutdown.timeout.ms",
    description: "How long an ACPI shutdown waits for the guest to power off before it gives up (the VM stays running).",
    schema: z.number().int(),
    range: { min: 1000, max: 3_600_000 },
    default: 120_000,
  },
  {
    name: "vm.destroy.timeout.ms",
    description: "How long a destroy waits for the agent to power the domain off and undefine it; then the job fails and is retried.",
    schema: z.number().int(),
    range: { min: 1000, max: 3_600_000 },
    default: 120_000,
  },
  {
    name: IDEMPOTENCY_TTL_SETTING,
    description: "How long the answer to a request with an Idempotency-Key is kept and replayed for a retry with the same key (hours); per account.",
    scopes: ["account"],
    schema: z.number(),
    range: { min: 0.01, max: 720 },
    default: 24,
  },
  {
    name: JOB_MAX_ATTEMPTS_SETTING,
    description: "Attempts of a job whose error is retryable (agent away, host busy, lost race) before it fails for good.",
    schema: z.number().int(),
    range: { min: 1, max: 100 },
    default: 8,
  },
  {
    // CloudStack's ping.timeout: a multiplier of ping.interval.
    name: "ping.timeout",
    description: "A host whose last heartbeat is older than this many ping.interval is Suspect (HA investigates it: ha.* settings).",
    schema: z.number(),
    range: { min: 1.5, max: 100 },
    default: 3,
  },
  {
    name: "vm.metrics.retention.days",
    description: "How long VM metrics samples (CPU, memory, disk, network) are kept before they are purged (days).",
    schema: z.number().int(),
    // 30 days: the longest duration GET .../metrics offers.
    range: { min: 1, max: 366 },
    default: 30,
  },
  {
    name: "enable.dynamic.scale.vm",
    description: "CloudStack's dynamic scaling: a VM started while it is true is defined with vCPU and memory headroom (twice its flavor, within the host), and a running VM may then be resized live within it (POST .../resize).",
    schema: booleanSetting,
    default: false,
  },
  {
    // CloudStack's default is false; Orbit's is true, the form every domain had before the setting.
    name: "vm.instancename.flag",
    description: "Whether the hypervisor's name for a VM's domain includes the VM's name (true: orbit-<uuid prefix>-<name>; false: orbit-<VM id>-<uuid prefix>, nothing the user chose). Applied when a VM starts (a VM renamed or a setting changed takes the new name at its next start; running domains keep theirs).",
    schema: booleanSetting,
    default: true,
  },
  {
    name: "scale.retry",
    description: "How many times a live resize's command is tried again on the VM's host after it fails, before the resize is given up and the VM keeps its size.",
    schema: z.number().int(),
    range: { min: 0, max: 10 },
    default: 2,
  },
  {
    name: "vmsnapshot.max",
    description: "The most snapshots a VM may have (CloudStack's vmsnapshot.max): a create beyond it is refused, naming the limit.",
    schema: z.number().int(),
    range: { min: 1, max: 1000 },
    default: 10,
  },
  {
    name: "vmsnapshot.create.wait",
    description: "How long a VM snapshot may take (seconds, CloudStack's vmsnapshot.create.wait): past it the snapshot is aborted, removed from the host, and its job fails.",
    schema: z.number().int(),
    range: { min: 1, max: 86_400 },
    default: 1800,
  },
  {
    name: "migratewait",
    description: "How long a live migration may take (seconds, CloudStack's migratewait): past it the host aborts it, the VM stays on its source and the migration fails.",
    schema: z.number().int(),
    range: { min: 1, max: 86_400 },
    default: 3600,
  },
  {
    name: "vm.migrate.downtime",
    description: "The longest pause QEMU may take at a live migration's switch-over (ms, CloudStack's KVM vm.migrate.downtime); 0: QEMU's default (300 ms).",
    schema: z.number().int(),
    range: { min: 0, max: 60_000 },
    default: 0,
  },
  {
    name: "vm.migrate.autoconverge",
    description: "Throttle a migrating guest's vCPUs when its memory changes faster than the copy (QEMU's auto-converge; CloudStack's KVM vm.migrate.autoconverge).",
    schema: booleanSetting,
    default: false,
  },
] as SettingDefinition[];

function inRange(v: number, r: { min: number; max: number }): boolean {
  return v >= r.min && v <= r.max;
}

export class SettingsRegistry {
  private readonly defs = new Map<string, SettingDefinition>();
  /** Stored values by setting, then by scope key ("global", "cluster:3"...). */
  private readonly values = new Map<string, Map<string, unknown>>();

  constructor(defs: SettingDefinition[] = CORE_SETTINGS) {
    for (const d of defs) this.define(d);
  }

  define(d: SettingDefinition): void {
    if (this.defs.has(d.name)) throw new Error(`setting ${d.name} defined twice`);
    if (typeof d.default === "number" && !d.range) throw new Error(`numeric setting ${d.name} has no range`);
    d.schema.parse(d.default);
    if (d.range && !inRange(d.default as number, d.range)) throw new Error(`setting ${d.name}: default outside its range`);
    this.defs.set(d.name, d);
  }

  definitions(): SettingDefinition[] {
    return [...this.defs.values()];
  }

  definition(name: string): SettingDefinition {
    const d = this.defs.get(name);
    if (!d) throw new NotFoundError("setting", name, `setting "${name}" does not exist`);
    return d;
  }

  /** Validates a value for a setting; throws InvalidArgumentError naming the setting. */
  validate(name: string, value: unknown): unknown {
    const d = this.definition(name);
    // Stored as jsonb, which refuses NUL and unpaired surrogates; no setting has a use for either.
    // eslint-disable-next-line no-control-regex -- finding control characters is the point
    if (typeof value === "string" && /[\u0000-\u001F\u007F\uD800-\uDFFF]/u.test(value)) {
      throw new InvalidArgumentError("value", `${name}: must not contain control characters (NUL, newline, tab...) or unpaired UTF-16 surrogates`);
    }
    if (d.range && typeof value === "number" && !inRange(value, d.range)) {
      throw new InvalidArgumentError("value", `${name} must be between ${d.range.min} and ${d.range.max} (got ${value})`, { ...d.range });
    }
    const r = d.schema.safeParse(value);
    if (!r.success) throw new InvalidArgumentError("value", `${name}: ${r.error.issues[0]?.message ?? "invalid value"}`);
    try {
      d.check?.(r.data);
    } catch (e) {
      throw new InvalidArgumentError("value", `${name}: ${(e as Error).message}`);
    }
    return r.data;
  }

  /** Refuses a scope the setting does not allow, naming the setting and the scopes it does. */
  checkScope(name: string, scope: SettingScope): void {
    const allowed = allowedScopes(this.definition(name));
    if (!allowed.includes(scope)) {
      throw new InvalidArgumentError("scope", `${name} cannot be set at scope ${scope} (allowed: ${allowed.join(", ")})`, { allowed });
    }
  }

  /** Sets an in-memory value (after validation) at a scope, global by default. The service persists it. */
  setLocal(name: string, value: unknown, at: ScopeRef = GLOBAL): void {
    const v = this.validate(name, value);
    if (at.scope !== "global") this.checkScope(name, at.scope);
    let byScope = this.values.get(name);
    if (!byScope) this.values.set(name, byScope = new Map());
    byScope.set(scopeKey(at), v);
  }

  /** Drops the in-memory value at a scope: readers get the scope above. */
  clearLocal(name: string, at: ScopeRef = GLOBAL): void {
    this.values.get(name)?.delete(scopeKey(at));
  }

  /** Drops the setting's in-memory values at every scope (before loading its stored ones again). */
  clearSetting(name: string): void {
    this.values.delete(name);
  }

  /** The scopes the setting has an in-memory value at. */
  scopesSet(name: string): ScopeRef[] {
    return [...(this.values.get(name)?.keys() ?? [])].map((k) => parseScopeKey(k)!);
  }

  /** Drops every in-memory value (before loading the stored ones again). */
  clearAll(): void {
    this.values.clear();
  }

  /** The global value (or the default). */
  get<T = unknown>(name: string): T {
    return this.resolve<T>(name, {});
  }

  number(name: string): number {
    return this.get<number>(name);
  }

  /** The value for a context: the narrowest scope holding one (setting-scope.ts), else the default. */
  resolve<T = unknown>(name: string, ctx: SettingContext): T {
    return this.resolveWithSource<T>(name, ctx).value;
  }

  /** resolve(), and the scope the value came from (undefined: the default). */
  resolveWithSource<T = unknown>(name: string, ctx: SettingContext): { value: T; from: ScopeRef | undefined } {
    const d = this.definition(name);
    const byScope = this.values.get(name);
    if (byScope) {
      for (const ref of contextChain(ctx)) {
        const k = scopeKey(ref);
        if (byScope.has(k)) return { value: byScope.get(k) as T, from: ref };
      }
    }
    return { value: d.default as T, from: undefined };
  }

  /** The value stored at exactly this scope, if any. */
  valueAt(name: string, at: ScopeRef): { set: true; value: unknown } | { set: false } {
    this.definition(name);
    const byScope = this.values.get(name);
    const k = scopeKey(at);
    return byScope?.has(k) ? { set: true, value: byScope.get(k) } : { set: false };
  }

  isDefault(name: string): boolean {
    return !this.valueAt(name, GLOBAL).set;
  }
}
