// Per-account limits, checked in the placement commit's transaction so that concurrent creates
// cannot overshoot: the accounts with limits are locked (FOR UPDATE, in id order, before any host
// or group), then their usage is read by a later statement, which under READ COMMITTED sees every
// commit that held the lock before us. Usage: VMs = the account's VMs not deleted (CloudStack
// counts all but destroyed ones); vCPUs, RAM, GPUs = what those VMs hold (allocation rows). It is
// read from account_usage_deltas, which triggers keep (migration 0046), not counted from the
// account's VMs: a check costs the same however many VMs the account has.
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

const usageOf = (rows: readonly UsageRow[]) => new Map(rows.map((r) => [Number(r.id), {
  vms: Number(r.vms), vcpus: Number(r.vcpus), memoryMib: Number(r.memory_mib), gpus: Number(r.gpus),
}]));

/** Usage of these accounts (see the file comment), read by one statement: the sums of their account_usage_deltas. */
export async function accountUsage(tx: Pick<Tx, "execute">, accountIds: readonly number[]): Promise<Map<number, AccountDemand>> {
  if (accountIds.length === 0) return new Map();
  const res = (await tx.execute(sql`
    select account_id as id, sum(vms) as vms, sum(vcpus) as vcpus, sum(memory_mib) as memory_mib, sum(gpus) as gpus
    from account_usage_deltas where account_id in ${accountIds} group by account_id`)) as unknown as { rows: UsageRow[] };
  return usageOf(res.rows);
}

/**
 * Usage of accounts locked by the caller, whose rows it folds into one each as it reads them (so
 * a check reads what changed since the last one, not the account's history). Under the lock no
 * other fold runs; a change committed after this statement began is neither deleted nor counted,
 * and is summed by the next read.
 */
export async function foldedUsage(tx: Pick<Tx, "execute">, accountIds: readonly number[]): Promise<Map<number, AccountDemand>> {
  const res = (await tx.execute(sql`
    with gone as (delete from account_usage_deltas where account_id in ${accountIds} returning *),
    sums as (
      select account_id as id, sum(vms)::bigint as vms, sum(vcpus)::bigint as vcpus, sum(memory_mib)::bigint as memory_mib, sum(gpus)::bigint as gpus
      from gone group by account_id),
    kept as (
      insert into account_usage_deltas (account_id, vms, vcpus, memory_mib, gpus)
      select id, vms, vcpus, memory_mib, gpus from sums where vms <> 0 or vcpus <> 0 or memory_mib <> 0 or gpus <> 0)
    select * from sums`)) as unknown as { rows: UsageRow[] };
  return usageOf(res.rows);
}

/**
 * Inside the commit's transaction, before it locks hosts or groups: locks the demanding accounts
 * that have a limit (or were deleted) and answers the first refusal, or undefined when all fit.
 */
export async function checkAccountLimits(tx: Tx, demands: ReadonlyMap<number, AccountDemand>): Promise<OrbitError | undefined> {
  return (await checkLimitedAccounts(tx, demands)).refusal;
}

/** checkAccountLimits, also saying which of the accounts have a limit (or were deleted): those it locked. */
export async function checkLimitedAccounts(
  tx: Tx, demands: ReadonlyMap<number, AccountDemand>,
): Promise<{ refusal: OrbitError | undefined; limited: ReadonlySet<number> }> {
  const ids = [...demands.keys()].sort((a, b) => a - b);
  if (ids.length === 0) return { refusal: undefined, limited: new Set() };
  const locked = (await tx.execute(sql`
    select id, deleted_at is not null as deleted, max_vms, max_vcpus, max_memory_mib, max_gpus from accounts
    where id in ${ids}
      and (max_vms is not null or max_vcpus is not null or max_memory_mib is not null or max_gpus is not null or deleted_at is not null)
    order by id for update`)) as unknown as { rows: LimitRow[] };
  const limited = new Set(locked.rows.map((r) => Number(r.id)));
  if (locked.rows.length === 0) return { refusal: undefined, limited };
  const deleted = locked.rows.find((r) => r.deleted);
  if (deleted) return { refusal: new ForbiddenError(`account ${deleted.id} was deleted`), limited };
  // A statement of its own: it reads the usage as of now, after every holder of these locks committed.
  const usage = await foldedUsage(tx, locked.rows.map((r) => Number(r.id)));
  for (const row of locked.rows) {
    const id = Number(row.id);
    const breach = firstBreach(
      { vms: row.max_vms, vcpus: row.max_vcpus, memoryMib: num(row.max_memory_mib), gpus: row.max_gpus },
      usage.get(id) ?? { vms: 0, vcpus: 0, memoryMib: 0, gpus: 0 }, demands.get(id)!,
    );
    if (breach) return { refusal: new AccountLimitError(id, breach), limited };
  }
  return { refusal: undefined, limited };
}
