// Affinity groups per account (CloudStack's host affinity / host anti-affinity, strict or not):
// create, list, get, delete, and resolving the names or ids a VM create names.
import { randomUUID } from "node:crypto";
import { and, eq, inArray, isNull, or } from "drizzle-orm";
import { AlreadyExistsError, ConflictError, InvalidArgumentError, NotFoundError } from "#shared/errors.js";
import type { AffinityGroupRef, AffinityKind } from "../allocator/types.js";
import type { Db } from "../db/database.js";
import { affinityGroupMembers, affinityGroups, vms } from "../db/schema.js";

export type AffinityGroupRow = typeof affinityGroups.$inferSelect;

/** A group with its live (not destroyed) member VMs. */
export type AffinityGroup = AffinityGroupRow & { memberVmIds: number[] };

export interface GroupCaller { accountId: number; role: "admin" | "user" }

export interface CreateAffinityGroupInput {
  name: string;
  type: AffinityKind;
  strict?: boolean | undefined;
  description?: string | undefined;
}

export class AffinityGroupService {
  constructor(private readonly db: Db) {}

  async create(caller: GroupCaller, input: CreateAffinityGroupInput): Promise<AffinityGroup> {
    const [row] = await this.db.insert(affinityGroups).values({
      uuid: randomUUID(), accountId: caller.accountId, name: input.name, type: input.type,
      strict: input.strict ?? true, description: input.description ?? "",
    }).onConflictDoNothing().returning();
    if (!row) throw new AlreadyExistsError("affinity group", `"${input.name}"`);
    return { ...row, memberVmIds: [] };
  }

  private scope(caller: GroupCaller) {
    return caller.role === "admin" ? undefined : eq(affinityGroups.accountId, caller.accountId);
  }

  async list(caller: GroupCaller): Promise<AffinityGroup[]> {
    const rows = await this.db.select().from(affinityGroups).where(this.scope(caller)).orderBy(affinityGroups.id);
    const members = await this.members(rows.map((r) => r.id));
    return rows.map((r) => ({ ...r, memberVmIds: members.get(r.id) ?? [] }));
  }

  async get(caller: GroupCaller, id: number): Promise<AffinityGroup> {
    const [row] = await this.db.select().from(affinityGroups).where(and(eq(affinityGroups.id, id), this.scope(caller)));
    if (!row) throw new NotFoundError("affinity group", id);
    return { ...row, memberVmIds: (await this.members([row.id])).get(row.id) ?? [] };
  }

  /** Live (not destroyed) member VM ids of each group. */
  private async members(groupIds: readonly number[]): Promise<Map<number, number[]>> {
    const out = new Map<number, number[]>(groupIds.map((g) => [g, []]));
    if (groupIds.length === 0) return out;
    const rows = await this.db.select({ groupId: affinityGroupMembers.groupId, vmId: affinityGroupMembers.vmId })
      .from(affinityGroupMembers).innerJoin(vms, eq(vms.id, affinityGroupMembers.vmId))
      .where(and(inArray(affinityGroupMembers.groupId, [...groupIds]), isNull(vms.deletedAt)));
    for (const r of rows) out.get(r.groupId)?.push(r.vmId);
    return out;
  }

  /** Refused while live VMs are members (CloudStack refuses too: remove them first). */
  async delete(caller: GroupCaller, id: number): Promise<void> {
    const g = await this.get(caller, id);
    const live = g.memberVmIds;
    if (live.length) throw new ConflictError(`affinity group ${id} still has ${live.length} virtual machine(s)`, "in_use", { vm_ids: live });
    await this.db.delete(affinityGroupMembers).where(eq(affinityGroupMembers.groupId, g.id));
    await this.db.delete(affinityGroups).where(eq(affinityGroups.id, g.id));
  }

  /** The caller's groups by name or id, as allocator references. */
  async resolve(accountId: number, names: readonly string[], ids: readonly number[]): Promise<{ rows: AffinityGroupRow[]; refs: AffinityGroupRef[] }> {
    if (names.length === 0 && ids.length === 0) return { rows: [], refs: [] };
    const rows = await this.db.select().from(affinityGroups).where(and(
      eq(affinityGroups.accountId, accountId),
      or(names.length ? inArray(affinityGroups.name, [...names]) : undefined, ids.length ? inArray(affinityGroups.id, [...ids]) : undefined),
    ));
    for (const n of names) {
      if (!rows.some((r) => r.name === n)) throw new InvalidArgumentError("affinity_group_names", `affinity group "${n}" does not exist`);
    }
    for (const i of ids) {
      if (!rows.some((r) => r.id === i)) throw new InvalidArgumentError("affinity_group_ids", `affinity group ${i} does not exist`);
    }
    return { rows, refs: rows.map((r) => ({ id: String(r.id), kind: r.type, strict: r.strict })) };
  }
}
