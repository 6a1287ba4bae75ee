import type { PlacementContext, ScoreFunction, Scorer } from "../plugin.js";

/**
 * CloudStack's `userconcentratedpod_*`: pods where the account already runs VMs first (most VMs
 * first). The algorithm pairs it with `random` or `firstfit` to order hosts inside a pod.
 */
export class UserConcentratedPodScorer implements Scorer {
  static readonly NAME = "userconcentratedpod";
  readonly name = UserConcentratedPodScorer.NAME;
  readonly kind = "dynamic" as const;

  prepare({ request, fleet, hosts }: PlacementContext): ScoreFunction | null {
    const account = request.accountId;
    const perPod = new Float64Array(fleet.podCount);
    let max = 0;
    // Only hosts with this account's VMs contribute; the account index keeps this short.
    for (const i of fleet.accountHosts(account)) {
      const n = hosts[i]!.accountVms.get(account) ?? 0;
      const p = fleet.podIndexOfHost[i]!;
      perPod[p] = perPod[p]! + n;
      if (perPod[p]! > max) max = perPod[p]!;
    }
    if (max === 0) return null;
    return { score: (h) => perPod[fleet.podIndexOfHost[h.index]!]! / max };
  }
}
