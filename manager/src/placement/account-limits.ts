// Per-account limits, checked in the placement commit's transaction so that concurrent creates
// cannot overshoot: the accounts with limits are locked (FOR UPDATE, in id order, before any host
// or group), then their usage is read by a later statement, which under READ COMMITTED sees every
// commit that held the lock before us. Usage: VMs = the account's VMs not deleted (CloudStack
// counts all but destroyed ones); vCPUs, RAM, GPUs = what those VMs hold (allocation rows).
import { sql } from "drizzle-orm";
import { AccountLimitError, ForbiddenError, type AccountLimitBreach, type OrbitError } from "#shared/errors.js";
import type { Tx } from "../db/database.js";
import type { PreparedRows } from "./commit-rows.js";

/** What a commit adds to one account. */
export interface AccountDemand {
  vms: number;
  vcpus: number;
  memoryMib: number;
  gpus: number;
}

/** The demand of prepared rows, per account id. */
export function accountDemands(requests: readonly PreparedRows[]): Map<number, AccountDemand> {
  const out = new Map<number, AccountDemand>();
  for (const r of requests) {
    const accountOf = new Map<string, number>();
    for (const v of r.vms) {
      const id = Number(v.account_id);
      accountOf.set(String(v.uuid), id);
      const d = out.get(id) ?? { vms: 0, vcpus: 0, memoryMib: 0, gpus: 0 };
      d.vms += 1;
      d.vcpus += Number(v.vcpus);
      d.memoryMib += Number(v.memory_mib);
      out.set(id, d);
    }
    for (const g of r.gpus) {
      const id = accountOf.get(String(g.uuid));
      if (id !== undefined) out.get(id)!.gpus += 1;
    }
  }
  return out;
}

interface LimitRow {
  id: number;
  deleted: boolean;
  max_vms: number | null;
  max_vcpus: number | null;
  max_memory_mib: string | number | null;
  max_gpus: number | null;
}

interface UsageRow { id: number; vms: string | number; vcpus: string | number; memory_mib: string | number; gpus: string | number }

const num = (v: string | number | null): number | null => (v === null ? null : Number(v));

/** The first limit the demand would break, given the usage, or undefined. */
export function firstBreach(
  limits: { vms: number | null; vcpus: number | null; memoryMib: number | null; gpus: number | null },
  usage: AccountDemand, demand: AccountDemand,
): AccountLimitBreach | undefined {
  const checks: [AccountLimitBreach["limit"], number | null, number, number][] = [
    ["vms", limits.vms, usage.vms, demand.vms],
    ["vcpus", limits.vcpus, usage.vcpus, demand.vcpus],
    ["memory_mib", limits.memoryMib, usage.memoryMib, demand.memoryMib],
    ["gpus", limits.gpus, usage.gpus, demand.gpus],
  ];
  for (const [limit, max, used, requested] of checks) {
    if (max !== null && requested > 0 && used + requested > max) return { limit, usage: used, requested, max };
  }
  return undefined;
}

/** Usage of these accounts (see the file comment), read by one statement. */
export async function accountUsage(tx: Pick<Tx, "execute">, accountIds: readonly number[]): Promise<Map<number, AccountDemand>> {
  if (accountIds.length === 0) return new Map();
  const res = (await tx.execute(sql`
    select a.id,
      (select count(*) from vms v where v.account_id = a.id and v.deleted_at is null) as vms,
      (select coalesce(sum(al.vcpus), 0) from allocations al join vms v on v.id = al.vm_id where v.account_id = a.id) as vcpus,
      (select coalesce(sum(al.memory_mib), 0) from allocations al join vms v on v.id = al.vm_id where v.account_id = a.id) as memory_mib,
      (select count(*) from gpu_allocations g join vms v on v.id = g.vm_id where v.account_id = a.id) as gpus
    from accounts a where a.id in ${accountIds}`)) as unknown as { rows: UsageRow[] };
  return new Map(res.rows.map((r) => [Number(r.id), {
    vms: Number(r.vms), vcpus: Number(r.vcpus), memoryMib: Number(r.memory_mib), gpus: Number(r.gpus),
  }]));
}

/**
 * Inside the commit's transaction, before it locks hosts or groups: locks the demanding accounts
 * that have a limit (or were deleted) and answers the first refusal, or undefined when all fit.
 */
export async function checkAccountLimits(tx: Tx, demands: ReadonlyMap<number, AccountDemand>): Promise<OrbitError | undefined> {
  const ids = [...demands.keys()].sort((a, b) => a - b);
  if (ids.length === 0) return undefined;
  const locked = (await tx.execute(sql`
    select id, deleted_at is not null as deleted, max_vms, max_vcpus, max_memory_mib, max_gpus from accounts
    where id in ${ids}
      and (max_vms is not null or max_vcpus is not null or max_memory_mib is not null or max_gpus is not null or deleted_at is not null)
    order by id for update`)) as unknown as { rows: LimitRow[] };
  if (locked.rows.length === 0) return undefined;
  const deleted = locked.rows.find((r) => r.deleted);
  if (deleted) return new ForbiddenError(`account ${deleted.id} was deleted`);
  // A statement of its own: it reads the usage as of now, after every holder of these locks committed.
  const usage = await accountUsage(tx, locked.rows.map((r) => Number(r.id)));
  for (const row of locked.rows) {
    const id = Number(row.id);
    const breach = firstBreach(
      { vms: row.max_vms, vcpus: row.max_vcpus, memoryMib: num(row.max_memory_mib), gpus: row.max_gpus },
      usage.get(id) ?? { vms: 0, vcpus: 0, memoryMib: 0, gpus: 0 }, demands.get(id)!,
    );
    if (breach) return new AccountLimitError(id, breach);
  }
  return undefined;
}
