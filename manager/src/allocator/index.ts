// Orbit's allocator: the pure placement core. Import from here.
//
//   const policy = buildPolicy(policyConfigFromSettings(settings)); // throws on unknown names
//   const result = place(snapshot, request, { seed, now, policy });
//   if (!result.ok) throw rejectionError(result.rejection);

import { InsufficientCapacityError } from "#shared/errors.js";
import type { PlacementRejection } from "./types.js";

export type * from "./types.js";
export { place, type PlaceOptions } from "./place.js";
export { applyPlan } from "./apply-plan.js";
export { PlacementSession } from "./session.js";
export { formatRefusals } from "./explain.js";
export { buildPolicy, defaultPolicy, resolvePolicyConfig } from "./policy.js";
export type { AllocationPolicy, WeightedScorer } from "./policy-types.js";
export {
  ALGORITHM_SCORERS,
  ALLOCATION_ALGORITHMS,
  ALLOCATION_MODES,
  ALLOCATOR_SETTINGS,
  CLOUDSTACK_SCORER_WEIGHTS,
  DEFAULT_FILTERS,
  DEFAULT_SCORER_WEIGHTS,
  REQUIRED_FILTERS,
  policyConfigFromSettings,
  scorerWeightsWithout,
  type AllocationAlgorithm,
  type AllocationMode,
  type AllocationPolicyConfig,
  type AllocatorSettingDefinition,
  type ResolvedPolicyConfig,
} from "./policy-config.js";
export { FILTERS, SCORERS } from "./registry.js";
export type { Filter, FilterCheck, FilterVerdict, GpuPick, PlacementContext, Scorer, ScoreFunction } from "./plugin.js";

/** The typed error for a rejection: retryable when capacity (not configuration) is the problem. */
export function rejectionError(rejection: PlacementRejection): InsufficientCapacityError {
  const err = new InsufficientCapacityError(rejection.message, rejection.hosts, rejection.unschedulable === "now");
  Object.assign(err.details, { unschedulable: rejection.unschedulable, vmIndex: rejection.vmIndex });
  return err;
}
export { stockAvailable, stockCount, type StockPolicy, type StockShape } from "./stock.js";
