// A VM's owned root disk (the qcow2 overlay on its image, an ISO boot's blank disk, a clone's
// copy) counts in a storage pool of its host's cluster, as volumes do: its size is reserved by the
// placement commit that places the VM (commit-rows.ts, in the same statement, refused whole when a
// pool has no room) and given back when the VM stops holding capacity (destroyed, or a deploy the
// host refused: vm-transitions.ts). The pool is the cluster's first local pool (the disk is a file
// on the host), else its first pool of any kind; a cluster without pools counts nothing. A VM
// booting from a volume has no owned root disk: the volume counts itself.
import { and, eq, sql } from "drizzle-orm";
import { ConflictError } from "#shared/errors.js";
import type { Db, Tx } from "../db/database.js";
import { flavors, images, storagePools, vms } from "../db/schema.js";

/**
 * The root disk's size: the flavor's disk, never below the image it overlays; an ISO boot's blank
 * disk (the agent makes it at the flavor's size, at least 1 GiB).
 */
export function rootDiskGib(flavor: { diskGib: number }, image: { format: string; sizeGib: number }): number {
  return image.format === "iso" ? Math.max(flavor.diskGib, 1) : Math.max(flavor.diskGib, image.sizeGib);
}

/** A pool a commit found without room for the root disks placed in it. */
export interface FullPool {
  id: number;
  name: string;
  clusterId: number;
  capacityGib: number;
  allocatedGib: number;
  /** What the commit needed there. */
  neededGib: number;
}

/** The 409 a placement answers when the pools of the hosts it could use have no room for its root disks. */
export function storagePoolFullError(pools: readonly FullPool[]): ConflictError {
  const what = pools.map((p) => `storage pool ${p.name} is full: ${Math.max(0, p.capacityGib - p.allocatedGib)} GiB free, ${p.neededGib} GiB needed`);
  return new ConflictError(`no room for the root disk: ${what.join("; ")}`, "storage_pool_full", {
    pools: pools.map((p) => ({ name: p.name, capacity_gib: p.capacityGib, allocated_gib: p.allocatedGib, needed_gib: p.neededGib })),
  });
}

/**
 * Gives the VM's root disk back to its pool, once (the VM row forgets the pool): one statement, so
 * it is atomic even outside a transaction, and in the caller's transaction when inside one.
 */
export async function releaseRootDisk(db: Db | Tx, vmId: number): Promise<void> {
  await db.execute(sql`
    with old as (
      select id, root_disk_pool_id as pool_id, root_disk_gib as gib from vms
      where id = ${vmId} and root_disk_pool_id is not null for update),
    forget as (update vms set root_disk_pool_id = null from old where vms.id = old.id)
    update storage_pools p set allocated_gib = greatest(p.allocated_gib - coalesce(old.gib, 0), 0)
    from old where p.id = old.pool_id`);
}

/**
 * The VM's root disk as `flavor` (default: its own) and its image size it: a stopped VM resized,
 * or reinstalled on a bigger image. What it grows by is reserved in its pool by one conditional
 * UPDATE, or the 409 names the pool, inside the caller's transaction. A disk never shrinks (a
 * qcow2 keeps its virtual size), so a smaller size changes nothing.
 */
export async function growRootDiskForFlavor(tx: Tx, vmId: number, flavor?: { diskGib: number }): Promise<void> {
  const [vm] = await tx.select({
    poolId: vms.rootDiskPoolId, gib: vms.rootDiskGib, format: images.format, imageGib: images.sizeGib, flavorDiskGib: flavors.diskGib,
  }).from(vms).innerJoin(images, eq(images.id, vms.imageId)).innerJoin(flavors, eq(flavors.id, vms.flavorId))
    .where(eq(vms.id, vmId)).for("update", { of: vms });
  // No owned root disk (it boots from a volume): nothing to grow here.
  if (!vm || vm.gib == null) return;
  const gib = rootDiskGib(flavor ?? { diskGib: vm.flavorDiskGib }, { format: vm.format, sizeGib: vm.imageGib });
  if (gib <= vm.gib) return;
  const more = gib - vm.gib;
  if (vm.poolId != null) {
    const [hit] = await tx.update(storagePools).set({ allocatedGib: sql`${storagePools.allocatedGib} + ${more}` })
      .where(and(eq(storagePools.id, vm.poolId), sql`${storagePools.allocatedGib} + ${more} <= ${storagePools.capacityGib}`))
      .returning({ id: storagePools.id });
    if (!hit) {
      const [p] = await tx.select().from(storagePools).where(eq(storagePools.id, vm.poolId));
      throw storagePoolFullError([{ id: p!.id, name: p!.name, clusterId: p!.clusterId, capacityGib: p!.capacityGib, allocatedGib: p!.allocatedGib, neededGib: more }]);
    }
  }
  await tx.update(vms).set({ rootDiskGib: gib }).where(eq(vms.id, vmId));
}
