// A VM snapshot's disk use, counted in a storage pool as root disks and volumes are. An internal
// qcow2 snapshot lives in the VM's disk files, so it counts in the pool of the VM's root disk
// (vms.root_disk_pool_id), or of its boot volume for a VM booting from one; a VM with neither
// (a cluster without pools) counts nothing. Its attached volumes hold the snapshot too: their
// share is counted in that same pool (a simplification: it is metadata, KiB to MiB).
// - Accepted: an estimate is reserved by one conditional UPDATE (allocated + estimate must stay
//   within capacity), in the create's transaction: refused 409 naming the pool, nothing changed.
// - Made: settled to what the agent measured (the disk files' growth across the create, at least
//   the saved memory: agent created_bytes), in GiB rounded up. A measure above the estimate that no
//   longer fits is counted as far as the pool's capacity and no further (allocated never passes
//   capacity; the job's result says so): the snapshot exists, it is not undone for that.
// - Released: when the snapshot is deleted, when its create fails (the agent removed what it
//   made), and when its VM is destroyed (its disks, snapshots inside, are gone).
// Clusters that diverge after the snapshot (the guest overwriting data the snapshot keeps) are the
// disks' own growth, not counted per snapshot: the root disk is already counted at its full size.
import { sql } from "drizzle-orm";
import { ConflictError } from "#shared/errors.js";
import type { Db, Tx } from "../db/database.js";

const GIB = 1024 ** 3;

/** The rows of a raw statement (both drivers, node-postgres and PGlite, answer `{ rows }`). */
function rowsOf<T>(result: unknown): T[] {
  return (result as { rows: T[] }).rows;
}

/**
 * What a snapshot is expected to take, reserved before it is made: a running VM's snapshot saves
 * its memory (libvirt 9.0's internal snapshot of a running domain always does, `memory: false`
 * included), at most the guest's RAM, so its memory in GiB rounded up; plus 1 GiB for the rest
 * (device state, the L1 table copies, snapshot table and refcounts: KiB to MiB, 1 GiB being the
 * pools' unit). An upper bound in practice, so the settle only gives back.
 */
export function snapshotEstimateGib(vm: { running: boolean; memoryMib: number }): number {
  return 1 + (vm.running ? Math.ceil(vm.memoryMib / 1024) : 0);
}

/** What a made snapshot counts: the disk files' growth, never less than its saved memory, in GiB rounded up. */
export function measuredSnapshotGib(m: { createdBytes: number; sizeBytes: number }): number {
  return Math.ceil(Math.max(m.createdBytes, m.sizeBytes, 0) / GIB);
}

/** The pool a VM's snapshots count in: its root disk's, else its boot volume's; null: none. */
export async function snapshotPoolOf(tx: Tx, vmId: number): Promise<{ id: number; name: string } | null> {
  const rows = rowsOf<{ id: number; name: string }>(await tx.execute(sql`
    select p.id, p.name from vms v
    left join volumes b on b.id = v.boot_volume_id
    join storage_pools p on p.id = coalesce(v.root_disk_pool_id, b.pool_id)
    where v.id = ${vmId}`));
  const row = rows[0];
  return row ? { id: Number(row.id), name: String(row.name) } : null;
}

/**
 * Reserves `gib` for the snapshot in the VM's pool (one conditional UPDATE) and records it on the
 * snapshot row; 409 "storage pool X is full" when it does not fit. Nothing when the VM has no pool.
 */
export async function reserveSnapshotUse(tx: Tx, snapshotId: number, vmId: number, gib: number): Promise<void> {
  const pool = await snapshotPoolOf(tx, vmId);
  if (!pool) return;
  const hit = rowsOf(await tx.execute(sql`
    update storage_pools set allocated_gib = allocated_gib + ${gib}
    where id = ${pool.id} and allocated_gib + ${gib} <= capacity_gib returning id`));
  if (hit.length === 0) {
    const [p] = rowsOf<{ capacity_gib: number; allocated_gib: number }>(await tx.execute(sql`select capacity_gib, allocated_gib from storage_pools where id = ${pool.id}`));
    if (!p) throw new ConflictError(`storage pool ${pool.name} is gone`, "storage_pool_gone");
    const free = Math.max(0, Number(p.capacity_gib) - Number(p.allocated_gib));
    throw new ConflictError(`no room for the snapshot: storage pool ${pool.name} is full: ${free} GiB free, ${gib} GiB needed`, "storage_pool_full", {
      pools: [{ name: pool.name, capacity_gib: Number(p.capacity_gib), allocated_gib: Number(p.allocated_gib), needed_gib: gib }],
    });
  }
  await tx.execute(sql`update vm_snapshots set pool_id = ${pool.id}, pool_gib = ${gib} where id = ${snapshotId}`);
}

/**
 * Settles the snapshot's count to `gib` (what was measured): one statement holding the snapshot's
 * and the pool's rows. Less than reserved gives the rest back; more takes what is free, never
 * past the pool's capacity. Returns what it counts now and what it wanted (null: counted nowhere).
 */
export async function settleSnapshotUse(db: Db | Tx, snapshotId: number, gib: number): Promise<{ countedGib: number; measuredGib: number } | null> {
  const [row] = rowsOf<{ pool_gib: number }>(await db.execute(sql`
    with s as (
      select sn.id, sn.pool_id, sn.pool_gib,
        least(${gib} - sn.pool_gib, greatest(p.capacity_gib - p.allocated_gib, 0))::int as delta
      from vm_snapshots sn join storage_pools p on p.id = sn.pool_id
      where sn.id = ${snapshotId} for update),
    moved as (
      update storage_pools p set allocated_gib = greatest(p.allocated_gib + s.delta, 0) from s where p.id = s.pool_id returning p.id)
    update vm_snapshots sn set pool_gib = s.pool_gib + s.delta from s where sn.id = s.id returning sn.pool_gib`));
  return row ? { countedGib: Number(row.pool_gib), measuredGib: gib } : null;
}

/** Gives the snapshot's count back to its pool, once (the row forgets the pool): one statement. */
export async function releaseSnapshotUse(db: Db | Tx, snapshotId: number): Promise<void> {
  await db.execute(sql`
    with old as (
      select id, pool_id, pool_gib from vm_snapshots where id = ${snapshotId} and pool_id is not null for update),
    forget as (update vm_snapshots sn set pool_id = null, pool_gib = 0 from old where sn.id = old.id)
    update storage_pools p set allocated_gib = greatest(p.allocated_gib - old.pool_gib, 0)
    from old where p.id = old.pool_id`);
}

/** Gives back every snapshot's count of a VM (destroyed: its disks, and the snapshots in them, are gone). */
export async function releaseVmSnapshotsUse(tx: Tx, vmId: number): Promise<void> {
  const rows = rowsOf<{ id: number }>(await tx.execute(sql`select id from vm_snapshots where vm_id = ${vmId} and pool_id is not null order by id for update`));
  for (const r of rows) await releaseSnapshotUse(tx, Number(r.id));
}
