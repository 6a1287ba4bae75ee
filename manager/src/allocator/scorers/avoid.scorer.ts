import type { PlacementContext, ScoreFunction, Scorer } from "../plugin.js";

/** CloudSigma's `avoid`: best effort, so a preference: hosts running none of the listed VMs first. */
export class AvoidScorer implements Scorer {
  static readonly NAME = "avoid";
  readonly name = AvoidScorer.NAME;
  readonly kind = "dynamic" as const;

  prepare({ request, fleet, placed }: PlacementContext): ScoreFunction | null {
    const ids = request.avoidVmIds;
    if (ids === undefined || ids.length === 0) return null;
    const avoidHosts = new Set<number>();
    for (const id of ids) {
      const h = fleet.vmHost.get(id);
      if (h !== undefined) avoidHosts.add(h);
    }
    // The request's own earlier VMs, when the caller listed their ids.
    for (const p of placed) if (p.vmId !== undefined && ids.includes(p.vmId)) avoidHosts.add(p.hostIndex);
    if (avoidHosts.size === 0) return null;
    return { score: (h) => (avoidHosts.has(h.index) ? 0 : 1) };
  }
}
