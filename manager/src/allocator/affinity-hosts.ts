// The hosts each affinity group of a request runs on, shared by the affinity filter (strict groups)
// and the affinity-preference scorer (non-strict ones).

import type { PlacementContext } from "./plugin.js";
import type { AffinityKind } from "./types.js";

export interface AffinityHosts {
  id: string;
  kind: AffinityKind;
  /** Indices of hosts that run a member of the group (snapshot, request hint, this request). */
  hosts: Set<number>;
}

/** Strict (or non-strict) groups of the request with the hosts their members run on. */
export function affinityHostSets(ctx: PlacementContext, strict: boolean): AffinityHosts[] {
  const out: AffinityHosts[] = [];
  for (const g of ctx.request.affinityGroups ?? []) {
    if (g.strict !== strict) continue;
    const hosts = new Set<number>(ctx.fleet.groupHosts.get(g.id));
    for (const id of g.memberHostIds ?? []) {
      const i = ctx.fleet.hostIndexById.get(id);
      if (i !== undefined) hosts.add(i);
    }
    for (const p of ctx.placed) hosts.add(p.hostIndex);
    out.push({ id: g.id, kind: g.kind, hosts });
  }
  return out;
}
