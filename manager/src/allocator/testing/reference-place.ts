// A deliberately naive placement: every filter and scorer on every host, no caches, no bounds.
// Tests compare the engine (cached rankings, branch and bound) against it.

import { buildFleet } from "../fleet.js";
import type { PlacementContext } from "../plugin.js";
import type { AllocationPolicy } from "../policy-types.js";
import type { FleetSnapshot, PlacementRequest } from "../types.js";

/** Host id the single VM of `request` would go to, or null when none fits. */
export function referenceHost(snapshot: FleetSnapshot, request: PlacementRequest, policy: AllocationPolicy, seed: number): string | null {
  const fleet = buildFleet(snapshot, policy.config);
  const ctx: PlacementContext = {
    request, fleet, hosts: fleet.hosts, clusters: fleet.clusters, config: policy.config, vmIndex: 0, placed: [], seed,
  };
  const checks = policy.filters.map((f) => f.prepare(ctx)).filter((c) => c !== null);
  // Same summation order as the engine (static, stateful, refined, dynamic) so float ties agree.
  // A refinable scorer counts with its exact score (`refine`), never its bound.
  const byKind = (kind: string, refinable = false) =>
    policy.scorers
      .filter((s) => s.scorer.kind === kind && (s.scorer.refine !== undefined) === refinable)
      .map((s) => ({ w: s.weight, fn: refinable ? s.scorer.refine!(ctx) : s.scorer.prepare(ctx) }))
      .filter((s) => s.fn !== null);
  const stat = byKind("static");
  const stateful = byKind("stateful");
  const refined = byKind("stateful", true);
  const dynamic = byKind("dynamic");
  let best: string | null = null;
  let bestTotal = -Infinity;
  for (const h of fleet.hosts) {
    if (!checks.every((c) => c.test(h))) continue;
    let s = 0;
    for (const x of stat) s += x.w * x.fn!.score(h);
    let k = s;
    for (const x of stateful) k += x.w * x.fn!.score(h);
    let t = k;
    for (const x of refined) t += x.w * x.fn!.score(h);
    for (const x of dynamic) t += x.w * x.fn!.score(h);
    if (t > bestTotal) {
      bestTotal = t;
      best = h.src.id;
    }
  }
  return best;
}
