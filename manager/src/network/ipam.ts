// IPAM: gives addresses of a range to VMs, never one address twice. The unique index on
// (network, address) decides between concurrent creates that picked the same address: the loser's
// row is not written and it picks again among what is still free. Reservations are keyed by the
// VM's uuid, so they can be made before the placement commit writes the VM; a create that is
// refused releases them, and those a crashed manager left behind (no VM after STALE_AFTER) are
// swept by a reservation in their network: at most every SWEEP_EVERY_MS per network and process
// (only reservations 15 minutes old are candidates, so sweeping on every create finds nothing),
// and always before a range is refused as full.
//
// Cost per create does not grow with the network: free addresses are looked up address by
// address through the unique index, starting where this process last found the range used up
// (`searchFrom`, lowered again when it frees an address), and the sweep reads only reservations
// it has not yet seen a VM for (ip_allocations.vm_seen). The search start is only a hint: an
// address another manager freed below it is found when the search from the hint comes up short
// and starts over from the range's first address, which it always does before refusing.
import { and, eq, inArray, sql } from "drizzle-orm";
import { ConflictError, OrbitError } from "#shared/errors.js";
import type { Db, Tx } from "../db/database.js";
import { ipAllocations, type IpAllocationKind } from "../db/schema.js";
import { ipToInt } from "./cidr.js";

const STALE_AFTER = "15 minutes";
const SWEEP_EVERY_MS = 10_000;
const MAX_ROUNDS = 50;

/** Per network: when this process last swept its stale reservations (Date.now()). */
const sweptAt = new Map<number, number>();

/** Tests: the next reservation in any network sweeps first. */
export function forgetSweeps(): void {
  sweptAt.clear();
}

/** Sweeps the network's stale reservations unless this process did so less than SWEEP_EVERY_MS ago (`force`: anyway). */
async function sweepIfDue(db: Db | Tx, networkId: number, force = false): Promise<boolean> {
  const last = sweptAt.get(networkId);
  if (!force && last !== undefined && Date.now() - last < SWEEP_EVERY_MS) return false;
  addressesFreed(await sweepStale(db, networkId));
  sweptAt.set(networkId, Date.now());
  return true;
}

export interface ReserveInput {
  networkId: number;
  kind: IpAllocationKind;
  /** Inclusive range of the addresses to give, as integers. */
  range: { first: number; last: number };
  vmUuids: readonly string[];
  /** What the 409 names when the range is full, e.g. `environment "prod" network 10.128.0.0/24`. */
  what: string;
}

/** Per network and kind: the lowest address this process does not know to be in use. */
const searchFrom = new Map<string, number>();
const hintKey = (networkId: number, kind: string) => `${networkId}/${kind}`;

/** Tells the search that these addresses are free again (so it starts no higher than them). */
export function addressesFreed(rows: readonly { networkId: number; kind: string; address: string }[]): void {
  for (const r of rows) {
    const key = hintKey(r.networkId, r.kind);
    const from = searchFrom.get(key);
    const n = ipToInt(r.address);
    if (from !== undefined && n < from) searchFrom.set(key, n);
  }
}

/** An address as PostgreSQL computes it from its integer (the dotted text ip_allocations stores). */
const addressOf = (n: unknown) => sql`host('0.0.0.0'::inet + ${n})`;

/** Up to `limit` free addresses of [from, last], lowest first: one index probe per address looked at. */
function freeFrom(networkId: number, from: number, last: number, limit: number) {
  // generate_series in the select list runs lazily: the LIMIT stops it at the last address needed.
  // A correlated scalar subquery, not NOT EXISTS: PostgreSQL would turn that into an anti join
  // reading every address of the network (and not keep the order).
  return sql`select n from (select generate_series(${from}::bigint, ${last}::bigint) as n) s
    where (select a.id from ip_allocations a where a.network_id = ${networkId} and a.address = ${addressOf(sql`s.n`)}) is null
    limit ${limit}`;
}

/** Reserves one address per VM (uuid → address). All or nothing: a full range is a 409 and leaves nothing reserved. */
export async function reserveAddresses(db: Db | Tx, input: ReserveInput): Promise<Map<string, string>> {
  const got = new Map<string, string>();
  const uuids = input.vmUuids.map((u) => u.toLowerCase());
  const key = hintKey(input.networkId, input.kind);
  const { first, last } = input.range;
  // Swept now: a range that comes up short need not sweep again before refusing.
  let swept = await sweepIfDue(db, input.networkId);
  try {
    let from = Math.min(Math.max(searchFrom.get(key) ?? first, first), last + 1);
    for (let round = 0; round < MAX_ROUNDS;) {
      const want = uuids.filter((u) => !got.has(u));
      if (want.length === 0) return new Map(uuids.map((u) => [u, got.get(u)!]));
      // The lowest free addresses first; after a collision, spread over a wider window so that
      // concurrent creates stop picking the same ones.
      const window = round === 0 ? want.length : want.length * 4;
      if (round === 0) {
        // Found and written by one statement (nothing written unless all were found).
        const res = await rows<{ found: number; vm_uuid: string | null; address: string | null }>(db, sql`
          with free as (${freeFrom(input.networkId, from, last, want.length)}),
          pick as (select n, row_number() over (order by n) as i from free),
          w as (select value::uuid as vm_uuid, ordinality as i from jsonb_array_elements_text(${JSON.stringify(want)}::jsonb) with ordinality),
          ins as (
            insert into ip_allocations (network_id, kind, address, vm_uuid)
            select ${input.networkId}, ${input.kind}, ${addressOf(sql`pick.n`)}, w.vm_uuid from pick join w on w.i = pick.i
            where (select count(*) from pick) = ${want.length}
            on conflict (network_id, address) do nothing
            returning vm_uuid::text as vm_uuid, address)
          select (select count(*) from pick)::int as found, ins.vm_uuid, ins.address from (select 1) one left join ins on true`);
        const found = Number(res[0]?.found ?? 0);
        if (found < want.length) {
          if (from > first) { from = first; continue; }
          if (!swept) { swept = await sweepIfDue(db, input.networkId, true); continue; }
          throw rangeFull(input, want.length, found);
        }
        const written = res.filter((r) => r.vm_uuid !== null);
        for (const w of written) got.set(w.vm_uuid!, w.address!);
        // Every address from `from` to the highest found is in use now (ours or a concurrent create's).
        const highest = Math.max(...res.map((r) => r.address === null ? from : ipToInt(r.address)));
        if (written.length === want.length) searchFrom.set(key, highest + 1);
        round++;
        continue;
      }
      const free = (await rows<{ n: string | number }>(db, freeFrom(input.networkId, from, last, window))).map((r) => Number(r.n));
      if (free.length < want.length) {
        if (from > first) { from = first; continue; }
        if (!swept) { swept = await sweepIfDue(db, input.networkId, true); continue; }
        throw rangeFull(input, want.length, free.length);
      }
      const picked = shuffle(free).slice(0, want.length);
      const written = await rows<{ vm_uuid: string; address: string }>(db, sql`
        insert into ip_allocations (network_id, kind, address, vm_uuid)
        select ${input.networkId}, ${input.kind}, ${addressOf(sql`p.n`)}, p.vm_uuid
        from jsonb_to_recordset(${JSON.stringify(want.map((vmUuid, i) => ({ n: picked[i]!, vm_uuid: vmUuid })))}::jsonb) as p(n bigint, vm_uuid uuid)
        on conflict (network_id, address) do nothing
        returning vm_uuid::text as vm_uuid, address`);
      for (const w of written) got.set(w.vm_uuid, w.address);
      searchFrom.set(key, free[0]!);
      round++;
    }
    throw new OrbitError("conflict", `${input.what}: address allocation kept colliding with concurrent creates`, { retryable: true });
  } catch (e) {
    if (got.size > 0) await releaseAddresses(db, [...got.keys()], input.kind);
    throw e;
  }
}

/** The 409 of a range without room for `wanted` more: `free` is every free address it has (searched from its first). */
function rangeFull(input: ReserveInput, wanted: number, free: number): ConflictError {
  const size = input.range.last - input.range.first + 1;
  return new ConflictError(`${input.what} has no free address for ${wanted} more VM(s): ${size - free} of ${size} are in use`,
    undefined, { network_id: input.networkId, kind: input.kind, free, requested: wanted });
}

async function rows<T>(db: Db | Tx, query: ReturnType<typeof sql>): Promise<T[]> {
  return ((await db.execute(query)) as unknown as { rows: T[] }).rows;
}

const freedColumns = { networkId: ipAllocations.networkId, kind: ipAllocations.kind, address: ipAllocations.address };

/** Releases the VMs' addresses (of one kind, or all). */
export async function releaseAddresses(db: Db | Tx, vmUuids: readonly string[], kind?: IpAllocationKind): Promise<void> {
  if (vmUuids.length === 0) return;
  addressesFreed(await db.delete(ipAllocations).where(and(inArray(ipAllocations.vmUuid, vmUuids.map((u) => u.toLowerCase())),
    kind === undefined ? undefined : eq(ipAllocations.kind, kind))).returning(freedColumns));
}

/** Releases the reservations of VMs that were never written (a refused create), keeping any VM's that exists. */
export async function releaseUnplaced(db: Db | Tx, vmUuids: readonly string[]): Promise<void> {
  if (vmUuids.length === 0) return;
  addressesFreed(await db.delete(ipAllocations).where(and(inArray(ipAllocations.vmUuid, vmUuids.map((u) => u.toLowerCase())),
    sql`not exists (select 1 from vms where vms.uuid = ${ipAllocations.vmUuid})`)).returning(freedColumns));
}

/**
 * Reservations whose create never wrote its VM (the manager died in between) are deleted; those
 * old enough whose VM exists are marked seen, so no sweep reads them again. Returns the freed.
 */
async function sweepStale(db: Db | Tx, networkId: number): Promise<{ networkId: number; kind: string; address: string }[]> {
  const gone = await rows<{ network_id: number; kind: string; address: string }>(db, sql`
    with old as (
      select a.id, exists (select 1 from vms where vms.uuid = a.vm_uuid) as has_vm from ip_allocations a
      where a.network_id = ${networkId} and not a.vm_seen and a.created_at < now() - ${STALE_AFTER}::interval),
    seen as (update ip_allocations set vm_seen = true where id in (select id from old where has_vm))
    delete from ip_allocations where id in (select id from old where not has_vm) returning network_id, kind, address`);
  return gone.map((r) => ({ networkId: Number(r.network_id), kind: r.kind, address: r.address }));
}

function shuffle<T>(xs: T[]): T[] {
  const a = [...xs];
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a;
}
