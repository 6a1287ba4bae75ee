import type { Filter, FilterCheck, PlacementContext } from "../plugin.js";
import { affinityHostSets } from "../affinity-hosts.js";

/**
 * Strict host affinity (all members on one host: where members already are) and strict host
 * anti-affinity (no two members on one host). Earlier VMs of the same request are members too.
 */
export class AffinityFilter implements Filter {
  static readonly NAME = "affinity";
  readonly name = AffinityFilter.NAME;
  readonly static = false;

  prepare(ctx: PlacementContext): FilterCheck | null {
    const groups = affinityHostSets(ctx, true);
    if (groups.length === 0) return null;
    return {
      test: (h) => {
        for (const g of groups) {
          const has = g.hosts.has(h.index);
          if (g.kind === "host-anti-affinity" ? has : !has && g.hosts.size > 0) return false;
        }
        return true;
      },
      explain: (h) => {
        for (const g of groups) {
          if (g.kind === "host-anti-affinity" && g.hosts.has(h.index)) {
            return { code: "anti_affinity", reason: `a member of anti-affinity group ${g.id} is on this host`, unresolvable: false };
          }
          if (g.kind === "host-affinity" && g.hosts.size > 0 && !g.hosts.has(h.index)) {
            return { code: "affinity", reason: `affinity group ${g.id} has its members on other hosts`, unresolvable: false };
          }
        }
        return { code: "affinity", reason: "affinity", unresolvable: false };
      },
    };
  }
}
