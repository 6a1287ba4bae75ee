// A validated, ready-to-run placement policy: the configured filters and weighted scorers,
// instantiated from the registry. Built at manager start and whenever an admin changes a
// placement setting; an unknown name or bad value throws InvalidArgumentError.

import { InvalidArgumentError } from "#shared/errors.js";
import {
  ALGORITHM_SCORERS,
  ALLOCATION_ALGORITHMS,
  ALLOCATION_MODES,
  DEFAULT_FILTERS,
  DEFAULT_SCORER_WEIGHTS,
  REQUIRED_FILTERS,
  type AllocationAlgorithm,
  type AllocationMode,
  type AllocationPolicyConfig,
  type ResolvedPolicyConfig,
} from "./policy-config.js";
import type { AllocationPolicy } from "./policy-types.js";
import { FILTERS, SCORERS } from "./registry.js";

let nextPolicyId = 1;

function list(v: readonly string[] | string | undefined): string[] | undefined {
  if (v === undefined) return undefined;
  const items = typeof v === "string" ? v.split(",") : [...v];
  return items.map((s) => s.trim()).filter((s) => s !== "");
}

function parseWeights(v: Readonly<Record<string, number>> | string | undefined): [string, number][] | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== "string") return Object.entries(v);
  return list(v)!.map((item) => {
    const [name, weight, extra] = item.split(":").map((s) => s.trim());
    const w = weight === undefined ? 1 : Number(weight);
    if (!name || extra !== undefined || !Number.isFinite(w)) {
      throw new InvalidArgumentError("orbit.allocator.scorers", `bad scorer weight "${item}": expected name:weight`);
    }
    return [name, w];
  });
}

function positive(field: string, v: number | undefined, dflt: number, max = Infinity): number {
  if (v === undefined) return dflt;
  if (!Number.isFinite(v) || v <= 0 || v > max) {
    throw new InvalidArgumentError(field, `${field} must be a number in (0, ${max}], got ${v}`);
  }
  return v;
}

/** Resolves defaults and validates every name and value; throws InvalidArgumentError. */
export function resolvePolicyConfig(config: AllocationPolicyConfig = {}): ResolvedPolicyConfig {
  const algorithm = (config.algorithm ?? "firstfit") as AllocationAlgorithm;
  if (!ALLOCATION_ALGORITHMS.includes(algorithm)) {
    throw new InvalidArgumentError("vm.allocation.algorithm", `unknown allocation algorithm "${config.algorithm}"; known: ${ALLOCATION_ALGORITHMS.join(", ")}`);
  }
  const mode = (config.mode ?? "vertical") as AllocationMode;
  if (!ALLOCATION_MODES.includes(mode)) {
    throw new InvalidArgumentError("vm.allocation.mode", `unknown allocation mode "${config.mode}"; known: ${ALLOCATION_MODES.join(", ")}`);
  }
  const filters = list(config.filters) ?? [...DEFAULT_FILTERS];
  for (const f of filters) {
    if (!FILTERS.has(f)) throw new InvalidArgumentError("orbit.allocator.filters", `unknown filter "${f}"; known: ${[...FILTERS.keys()].join(", ")}`);
  }
  if (new Set(filters).size !== filters.length) throw new InvalidArgumentError("orbit.allocator.filters", "a filter is listed twice");
  const missing = REQUIRED_FILTERS.filter((f) => !filters.includes(f));
  if (missing.length > 0) {
    throw new InvalidArgumentError("orbit.allocator.filters", `filters ${missing.join(", ")} are required (without them hosts could be over-committed)`);
  }
  const weights = new Map<string, number>(Object.entries(ALGORITHM_SCORERS[algorithm]));
  for (const [name, w] of parseWeights(config.scorers) ?? Object.entries(DEFAULT_SCORER_WEIGHTS)) {
    if (!SCORERS.has(name)) throw new InvalidArgumentError("orbit.allocator.scorers", `unknown scorer "${name}"; known: ${[...SCORERS.keys()].join(", ")}`);
    if (!(w >= 0)) throw new InvalidArgumentError("orbit.allocator.scorers", `scorer ${name} has a negative weight`);
    weights.set(name, w);
  }
  const strict = list(config.strictHostTags) ?? [];
  return {
    algorithm,
    mode,
    filters,
    scorerWeights: [...weights].filter(([, w]) => w > 0),
    cpuOverprovisioning: positive("cpu.overprovisioning.factor", config.cpuOverprovisioning, 1),
    memoryOverprovisioning: positive("mem.overprovisioning.factor", config.memoryOverprovisioning, 1),
    cpuDisableThreshold: positive("cluster.cpu.allocated.capacity.disablethreshold", config.cpuDisableThreshold, 0.85, 1),
    memoryDisableThreshold: positive("cluster.memory.allocated.capacity.disablethreshold", config.memoryDisableThreshold, 0.85, 1),
    strictHostTags: strict,
  };
}

export function buildPolicy(config: AllocationPolicyConfig = {}): AllocationPolicy {
  const resolved = resolvePolicyConfig(config);
  const filters = resolved.filters.map((name) => FILTERS.get(name)!(resolved));
  const scorers = resolved.scorerWeights
    .map(([name, weight]) => ({ scorer: SCORERS.get(name)!(resolved), weight }))
    .sort((a, b) => b.weight - a.weight);
  return { id: nextPolicyId++, name: `${resolved.algorithm}/${resolved.mode}`, config: resolved, filters, scorers };
}

/** Orbit's default GPU-aware policy. */
export const defaultPolicy: AllocationPolicy = buildPolicy();
