// The shape of a built placement policy, apart from policy.ts (which builds it from the registry
// and so imports every plugin): the engine and the manager name it without pulling in plugins.

import type { Filter, Scorer } from "./plugin.js";
import type { ResolvedPolicyConfig } from "./policy-config.js";

export interface WeightedScorer {
  readonly scorer: Scorer;
  readonly weight: number;
}

export interface AllocationPolicy {
  /** Unique per built policy (keys the engine's caches). */
  readonly id: number;
  /** e.g. "firstfit/vertical". */
  readonly name: string;
  readonly config: ResolvedPolicyConfig;
  /** In evaluation order. */
  readonly filters: readonly Filter[];
  /** Highest weight first. */
  readonly scorers: readonly WeightedScorer[];
}
