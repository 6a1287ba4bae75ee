// Where the members of affinity groups run (hosts holding their allocations), read fresh for
// every placement attempt: the snapshot cache may lag, affinity must not.
import { eq, inArray } from "drizzle-orm";
import type { AffinityGroupRef, PlacementRequest } from "../allocator/types.js";
import type { Db, Tx } from "../db/database.js";
import { affinityGroupMembers, affinityGroups, allocations } from "../db/schema.js";

/** Group id → sorted host ids running a member. */
export async function memberHosts(db: Db | Tx, groupIds: readonly number[]): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>(groupIds.map((g) => [String(g), []]));
  if (groupIds.length === 0) return out;
  const rows = await db.selectDistinct({ groupId: affinityGroupMembers.groupId, hostId: allocations.hostId })
    .from(affinityGroupMembers).innerJoin(allocations, eq(allocations.vmId, affinityGroupMembers.vmId))
    .where(inArray(affinityGroupMembers.groupId, [...groupIds]));
  for (const r of rows) out.get(String(r.groupId))?.push(String(r.hostId));
  for (const list of out.values()) list.sort();
  return out;
}

/** The request with each affinity group's member hosts filled in from the database. */
export async function withMemberHosts(db: Db | Tx, request: PlacementRequest): Promise<PlacementRequest> {
  const groups = request.affinityGroups ?? [];
  if (groups.length === 0) return request;
  const hostsOf = await memberHosts(db, groups.map((g) => Number(g.id)));
  return {
    ...request,
    affinityGroups: groups.map((g): AffinityGroupRef => ({ ...g, memberHostIds: hostsOf.get(g.id) ?? [] })),
  };
}

/**
 * Locks the request's strict groups (so two deploys into one group commit one after the other)
 * and tells whether their members still run where the request says.
 */
export async function lockStrictGroups(tx: Tx, request: PlacementRequest): Promise<boolean> {
  const strict = (request.affinityGroups ?? []).filter((g) => g.strict);
  if (strict.length === 0) return true;
  const ids = strict.map((g) => Number(g.id)).sort((a, b) => a - b);
  await tx.select({ id: affinityGroups.id }).from(affinityGroups).where(inArray(affinityGroups.id, ids))
    .orderBy(affinityGroups.id).for("update");
  const now = await memberHosts(tx, ids);
  return strict.every((g) => sameList(now.get(g.id) ?? [], [...(g.memberHostIds ?? [])].sort()));
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}
