// Global settings: every knob an admin tunes at run time, with its type, default and
// validation, in one registry. Values live in the settings table; reads come from memory.
// Every numeric setting has a sane range (min..max, shown by GET /v1/admin/settings): a value far
// outside it (an over-provisioning factor of 1e308) would silently switch a check off.
import { z } from "zod";
import { InvalidArgumentError, NotFoundError } from "#shared/errors.js";

export interface SettingDefinition<T = unknown> {
  name: string;
  description: string;
  schema: z.ZodType<T>;
  default: T;
  /** Allowed values of a numeric setting, inclusive (required for numbers). */
  range?: { min: number; max: number };
  /** Validation that needs more than the schema (e.g. policy names known to the allocator). */
  check?: (value: T) => void;
}

export const CORE_SETTINGS: SettingDefinition[] = [
  {
    name: "agent.heartbeat.interval.ms",
    description: "How often agents send a heartbeat with the power state of every domain.",
    schema: z.number().int(),
    range: { min: 200, max: 600_000 },
    default: 10_000,
  },
  {
    name: "host.memory.reserve.mib",
    description: "Memory kept for the host itself, not given to VMs (MiB).",
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
    name: "host.heartbeat.miss.factor",
    description: "A host whose last heartbeat is older than this many intervals is Disconnected.",
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
    description: "CloudStack's dynamic scaling, \"true\" or \"false\" (settings hold numbers and strings): a VM started while it is \"true\" is defined with vCPU and memory headroom (twice its flavor, within the host), and a running VM may then be resized live within it (POST .../resize).",
    schema: z.enum(["true", "false"]),
    default: "false",
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
] as SettingDefinition[];

function inRange(v: number, r: { min: number; max: number }): boolean {
  return v >= r.min && v <= r.max;
}

export class SettingsRegistry {
  private readonly defs = new Map<string, SettingDefinition>();
  private readonly values = new Map<string, unknown>();

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

  /** Sets an in-memory value (after validation). The service persists it. */
  setLocal(name: string, value: unknown): void {
    this.values.set(name, this.validate(name, value));
  }

  get<T = unknown>(name: string): T {
    const d = this.definition(name);
    return (this.values.has(name) ? this.values.get(name) : d.default) as T;
  }

  number(name: string): number {
    return this.get<number>(name);
  }

  isDefault(name: string): boolean {
    return !this.values.has(name);
  }
}
