// What an admin tunes about placement, as global settings (names follow CloudStack's where it
// has one). `policyConfigFromSettings` turns setting values into a config; `buildPolicy`
// (policy.ts) validates it against the plugin registry.

export const ALLOCATION_ALGORITHMS = [
  "random",
  "firstfit",
  "userdispersing",
  "userconcentratedpod_random",
  "userconcentratedpod_firstfit",
  "firstfitleastconsumed",
] as const;
export type AllocationAlgorithm = (typeof ALLOCATION_ALGORITHMS)[number];

/** vertical: fill one host before the next (most-allocated first); horizontal: spread. */
export const ALLOCATION_MODES = ["vertical", "horizontal"] as const;
export type AllocationMode = (typeof ALLOCATION_MODES)[number];

/**
 * Scorers (and weights) each algorithm adds. They sit below the preference tiers of the scorer
 * list, as CloudStack's allocators order the host list after moving OS-tagged hosts first and
 * GPU hosts last. Against the allocation mode (`allocated-capacity`, weight 1) they weigh 0.5
 * and blend with it; `firstfit` is only a tie-break (stable order). Without `allocated-capacity`
 * (CLOUDSTACK_SCORER_WEIGHTS) each algorithm alone orders the hosts, as in CloudStack.
 */
export const ALGORITHM_SCORERS: Readonly<Record<AllocationAlgorithm, Readonly<Record<string, number>>>> = {
  random: { random: 0.5 },
  firstfit: { firstfit: 0.01 },
  userdispersing: { userdispersing: 0.5 },
  // The pod preference dominates; random / stable order only orders hosts inside a pod.
  userconcentratedpod_random: { userconcentratedpod: 0.75, random: 0.25 },
  userconcentratedpod_firstfit: { userconcentratedpod: 0.75, firstfit: 0.01 },
  firstfitleastconsumed: { leastconsumed: 0.5, firstfit: 0.01 },
};

export const DEFAULT_FILTERS: readonly string[] = [
  "scope",
  "host-state",
  "hypervisor",
  "cpu-type",
  "host-tags",
  "gpu-model",
  "cpu-capacity",
  "memory-capacity",
  "cluster-threshold",
  "gpu-capacity",
  "affinity",
];

/** Filters a policy may not drop: without them the allocator could over-commit a host. */
export const REQUIRED_FILTERS: readonly string[] = ["scope", "host-state", "cpu-capacity", "memory-capacity", "gpu-capacity"];

/**
 * Orbit's default (GPU-aware) scorer weights, in tiers (each tier's weight is at least the sum of
 * what the tiers below it can add where they compete, so a lower tier only breaks ties or near-ties
 * of the upper ones), strongest first:
 *   - the user's own preferences: non-strict affinity, avoid;
 *   - keeping GPU hosts for GPU VMs (CloudStack's GPU hosts last);
 *   - the image's OS preference; GPU topology (a NUMA/NVLink-local set beats a good fit);
 *   - GPU fragmentation (passthrough and shares) and vGPU packing (they never score the same VM),
 *     and resource balance (CPU and memory kept beside free GPUs in the workload's proportion);
 *   - GPU packing order (momentum: keep filling the GPU hosts already opened);
 *   - the allocation mode (vertical / horizontal), then the algorithm's own order (ALGORITHM_SCORERS).
 * The GPU tiers outrank the allocation mode on GPU hosts: on Alibaba's GPU trace this leaves fewer
 * GPUs unallocated than FGD (BENCHMARKS.md, Trace replay); CPU hosts keep the mode and algorithm.
 */
export const DEFAULT_SCORER_WEIGHTS: Readonly<Record<string, number>> = {
  "affinity-preference": 128,
  avoid: 128,
  "gpu-hosts-last": 64,
  "os-type": 32,
  "gpu-locality": 32,
  "gpu-fragmentation": 16,
  "gpu-resource-balance": 16,
  "vgpu-packing": 16,
  "gpu-packing-order": 8,
  "allocated-capacity": 1,
};

/** CloudStack's own behaviour, without Orbit's GPU-aware scorers (the quality baseline). */
export const CLOUDSTACK_SCORER_WEIGHTS: Readonly<Record<string, number>> = {
  "affinity-preference": 16,
  avoid: 16,
  "gpu-hosts-last": 8,
  "os-type": 4,
};

/** The weights without the named scorers (ablations: what one scorer adds to a policy). */
export function scorerWeightsWithout(weights: Readonly<Record<string, number>>, ...names: string[]): Record<string, number> {
  return Object.fromEntries(Object.entries(weights).filter(([n]) => !names.includes(n)));
}

export interface AllocationPolicyConfig {
  algorithm?: string;
  mode?: string;
  /** Filter names in evaluation order (array or comma-separated). */
  filters?: readonly string[] | string;
  /** Non-algorithm scorer weights (object or "name:weight,name:weight"); replaces the defaults. */
  scorers?: Readonly<Record<string, number>> | string;
  cpuOverprovisioning?: number;
  memoryOverprovisioning?: number;
  cpuDisableThreshold?: number;
  memoryDisableThreshold?: number;
  /** `vm.strict.host.tags`: tags enforced even when an admin names the host. */
  strictHostTags?: readonly string[] | string;
}

export interface ResolvedPolicyConfig {
  readonly algorithm: AllocationAlgorithm;
  readonly mode: AllocationMode;
  readonly filters: readonly string[];
  /** Every scorer with its weight, the algorithm's included; weight 0 entries dropped. */
  readonly scorerWeights: readonly (readonly [string, number])[];
  readonly cpuOverprovisioning: number;
  readonly memoryOverprovisioning: number;
  readonly cpuDisableThreshold: number;
  readonly memoryDisableThreshold: number;
  readonly strictHostTags: readonly string[];
}

export interface AllocatorSettingDefinition {
  name: string;
  type: "string" | "number";
  default: string | number;
  description: string;
  /** Allowed values for enumerations. */
  values?: readonly string[];
  /** Allowed range of a number, inclusive: beyond it a factor or threshold would switch a check off. */
  range?: { min: number; max: number };
  /** Scopes at which the setting may be overridden. */
  scopes: readonly ("global" | "cluster")[];
}

export const ALLOCATOR_SETTINGS: readonly AllocatorSettingDefinition[] = [
  { name: "vm.allocation.algorithm", type: "string", default: "firstfit", values: ALLOCATION_ALGORITHMS, scopes: ["global"],
    description: "Host ordering: random, firstfit, userdispersing, userconcentratedpod_random, userconcentratedpod_firstfit, firstfitleastconsumed" },
  { name: "vm.allocation.mode", type: "string", default: "vertical", values: ALLOCATION_MODES, scopes: ["global"],
    description: "vertical fills one host before the next (most allocated first); horizontal spreads (least allocated first)" },
  { name: "orbit.allocator.filters", type: "string", default: DEFAULT_FILTERS.join(","), scopes: ["global"],
    description: "Placement filters, in evaluation order (comma-separated names)" },
  { name: "orbit.allocator.scorers", type: "string", default: formatScorerWeights(DEFAULT_SCORER_WEIGHTS), scopes: ["global"],
    description: "Placement scorers and weights besides the algorithm's (name:weight, comma-separated)" },
  { name: "cpu.overprovisioning.factor", type: "number", default: 1, range: { min: 0.1, max: 16 }, scopes: ["global", "cluster"],
    description: "vCPUs allocatable per logical CPU" },
  { name: "mem.overprovisioning.factor", type: "number", default: 1, range: { min: 0.1, max: 4 }, scopes: ["global", "cluster"],
    description: "Memory allocatable per MiB of host memory (after the host reserve)" },
  { name: "cluster.cpu.allocated.capacity.disablethreshold", type: "number", default: 0.85, range: { min: 0.01, max: 1 }, scopes: ["global", "cluster"],
    description: "Stop new allocations in a cluster once this share of its CPU capacity is allocated" },
  { name: "cluster.memory.allocated.capacity.disablethreshold", type: "number", default: 0.85, range: { min: 0.01, max: 1 }, scopes: ["global", "cluster"],
    description: "Stop new allocations in a cluster once this share of its memory capacity is allocated" },
  { name: "vm.strict.host.tags", type: "string", default: "", scopes: ["global"],
    description: "Host tags that must match even when an admin deploys to a named host (comma-separated)" },
];

export function formatScorerWeights(weights: Readonly<Record<string, number>>): string {
  return Object.entries(weights).map(([n, w]) => `${n}:${w}`).join(",");
}

/** Maps global setting values (by the names in ALLOCATOR_SETTINGS) to a policy config. */
export function policyConfigFromSettings(values: Readonly<Record<string, string | number | undefined>>): AllocationPolicyConfig {
  const num = (name: string): number | undefined => {
    const v = values[name];
    if (v === undefined || v === "") return undefined;
    return typeof v === "number" ? v : Number(v);
  };
  const str = (name: string): string | undefined => {
    const v = values[name];
    return v === undefined ? undefined : String(v);
  };
  return {
    algorithm: str("vm.allocation.algorithm"),
    mode: str("vm.allocation.mode"),
    filters: str("orbit.allocator.filters"),
    scorers: str("orbit.allocator.scorers"),
    cpuOverprovisioning: num("cpu.overprovisioning.factor"),
    memoryOverprovisioning: num("mem.overprovisioning.factor"),
    cpuDisableThreshold: num("cluster.cpu.allocated.capacity.disablethreshold"),
    memoryDisableThreshold: num("cluster.memory.allocated.capacity.disablethreshold"),
    strictHostTags: str("vm.strict.host.tags"),
  };
}
