// The hosts each affinity group of a request runs on, shared by the affinity filter (strict groups)
// and the affinity-preference scorer (non-strict ones).

import type { PlacementContext } from "./plugin.js";
import type { AffinityKind } from "./types.js";

export interface AffinityHosts {
  id: string;
  kind: AffinityKind;
  /** Indices of hosts that run a member of the group (snapshot, request hint, this request), Down hosts left out. */
  hosts: Set<number>;
}

/** Strict (or non-strict) groups of the request with the hosts their members run on. */
export function affinityHostSets(ctx: PlacementContext, strict: boolean): AffinityHosts[] {
  const out: AffinityHosts[] = [];
  for (const g of ctx.request.affinityGroups ?? []) {
    if (g.strict !== strict) continue;
    const hosts = new Set<number>();
    // A member on a Down host is not running (HA restarts it elsewhere or it is Down itself): it
    // does not pin a host-affinity group to a dead host, nor keep anyone off one.
    const add = (i: number | undefined) => { if (i !== undefined && ctx.hosts[i]?.src.status !== "Down") hosts.add(i); };
    for (const i of ctx.fleet.groupHosts.get(g.id) ?? []) add(i);
    for (const id of g.memberHostIds ?? []) add(ctx.fleet.hostIndexById.get(id));
    for (const p of ctx.placed) hosts.add(p.hostIndex);
    out.push({ id: g.id, kind: g.kind, hosts });
  }
  return out;
}
