import type { PlacementContext, ScoreFunction, Scorer } from "../plugin.js";
import type { ResolvedPolicyConfig } from "../policy-config.js";
import { allocatedShare } from "../allocated-share.js";

/**
 * The allocation mode as one swapped scoring function: vertical prefers the most allocated
 * host (fill one host before the next), horizontal the least allocated (spread).
 */
export class AllocatedCapacityScorer implements Scorer {
  static readonly NAME = "allocated-capacity";
  readonly name = AllocatedCapacityScorer.NAME;
  readonly kind = "stateful" as const;

  staticKey(): string {
    return "";
  }
  private readonly fn: ScoreFunction;

  constructor(config: Pick<ResolvedPolicyConfig, "mode">) {
    this.fn = config.mode === "vertical" ? { score: allocatedShare } : { score: (h) => 1 - allocatedShare(h) };
  }

  prepare(_ctx: PlacementContext): ScoreFunction {
    return this.fn;
  }
}
