import { affinityHostSets } from "../affinity-hosts.js";
import type { PlacementContext, ScoreFunction, Scorer } from "../plugin.js";

/** Non-strict affinity groups as a preference: the share of the request's groups a host honours. */
export class AffinityPreferenceScorer implements Scorer {
  static readonly NAME = "affinity-preference";
  readonly name = AffinityPreferenceScorer.NAME;
  readonly kind = "dynamic" as const;

  prepare(ctx: PlacementContext): ScoreFunction | null {
    const groups = affinityHostSets(ctx, false).filter((g) => g.hosts.size > 0);
    if (groups.length === 0) return null;
    return {
      score: (h) => {
        let ok = 0;
        for (const g of groups) if (g.hosts.has(h.index) === (g.kind === "host-affinity")) ok++;
        return ok / groups.length;
      },
    };
  }
}
