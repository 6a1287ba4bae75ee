// A VM that boots from a bootable volume (Hyperstack's create with `volume_name`, or with
// `create_bootable_volume`): the volume is the VM's first disk instead of an owned overlay of its
// image, attached for the VM's whole life and not the VM's (its delete detaches it, available with
// its data). Everything here runs inside the placement commit's transaction, so a refused create
// leaves no volume, attachment or reserved capacity behind.
import { randomUUID } from "node:crypto";
import { and, asc, desc, eq, isNull, sql } from "drizzle-orm";
import { ConflictError, InvalidArgumentError, NotFoundError } from "#shared/errors.js";
import type { Db, Tx } from "../db/database.js";
import { hosts, storagePools, vms, volumeAttachments, volumes } from "../db/schema.js";
import type { PlacementRequest } from "../allocator/types.js";
import { reservePoolCapacity } from "./storage-pool-service.js";
import { setVolumeStatus } from "./volume-status.js";

type VolumeRow = typeof volumes.$inferSelect;

/** The device a boot volume has in the guest: the domain's first virtio disk. */
export const BOOT_DEVICE = "/dev/vda";

/** Why a volume cannot be booted from now (null: it can). */
function unusable(v: VolumeRow, attachedTo: number | undefined): ConflictError | null {
  if (attachedTo !== undefined) return new ConflictError(`volume ${v.id} (${v.name}) is attached to virtual machine ${attachedTo}: a bootable volume boots one VM at a time`, "in-use");
  if (v.status !== "available") return new ConflictError(`volume ${v.id} (${v.name}) is ${v.status}, not available`, v.status);
  return null;
}

/**
 * The caller's bootable volume of that name in the environment, checked before placing (the
 * commit checks again under its lock): 404 unknown, 400 not bootable, 409 ambiguous or in use.
 */
export async function bootableVolumeNamed(db: Db, accountId: number, env: { id: number; name: string }, name: string): Promise<VolumeRow> {
  const rows = await db.select().from(volumes)
    .where(and(eq(volumes.accountId, accountId), eq(volumes.environmentId, env.id), eq(volumes.name, name), isNull(volumes.deletedAt)))
    .orderBy(asc(volumes.id));
  if (rows.length === 0) throw new NotFoundError("volume", name, `volume_name: your account has no volume named "${name}" in environment "${env.name}"`);
  if (rows.length > 1) {
    throw new ConflictError(`volume_name: ${rows.length} volumes are named "${name}" in environment "${env.name}" (ids ${rows.map((r) => r.id).join(", ")}): rename one`, "ambiguous");
  }
  const v = rows[0]!;
  if (v.imageId == null) throw new InvalidArgumentError("volume_name", `volume ${v.id} (${v.name}) is not bootable: it was created without an image`);
  const [a] = await db.select({ vmId: volumeAttachments.vmId }).from(volumeAttachments).where(eq(volumeAttachments.volumeId, v.id));
  const problem = unusable(v, a?.vmId);
  if (problem) throw problem;
  return v;
}

/**
 * Where a VM booting from this volume may be placed: a local volume a host has created stays on
 * that host (as an attach requires); any other stays in its pool's cluster (a shared pool is
 * reached from that cluster's hosts; a volume not created yet keeps the pool its size is reserved in).
 */
export async function bootVolumePlacement(db: Db, v: VolumeRow): Promise<Pick<PlacementRequest, "hostId" | "strictHostTags" | "cluster">> {
  const [pool] = await db.select().from(storagePools).where(eq(storagePools.id, v.poolId));
  if (pool!.kind === "local" && v.hostId != null) return { hostId: String(v.hostId), strictHostTags: true };
  return { cluster: String(pool!.clusterId) };
}

/** The existing volume becomes the VM's boot disk: locked and checked again, then attached ("attaching" until the deploy). */
export async function attachBootVolume(tx: Tx, vmId: number, volumeId: number): Promise<void> {
  const [v] = await tx.select().from(volumes).where(and(eq(volumes.id, volumeId), isNull(volumes.deletedAt))).for("update");
  if (!v) throw new NotFoundError("volume", volumeId);
  const [a] = await tx.select({ vmId: volumeAttachments.vmId }).from(volumeAttachments).where(eq(volumeAttachments.volumeId, v.id));
  const problem = unusable(v, a?.vmId);
  if (problem) throw problem;
  const [vm] = await tx.select({ hostId: vms.hostId }).from(vms).where(eq(vms.id, vmId));
  await link(tx, vmId, v.id, v.hostId == null ? { hostId: vm!.hostId } : {});
}

/**
 * A new bootable volume of the image, named after the VM, as the VM's boot disk: its size is
 * reserved in a storage pool of the VM's host's cluster (the emptiest first; 409 with the pools'
 * numbers when none has room), its file made by that host when the VM is deployed.
 */
export async function createBootVolume(tx: Tx, vm: { id: number; name: string; accountId: number; environmentId: number }, image: { id: number }, sizeGib: number): Promise<void> {
  const [row] = await tx.select({ hostId: vms.hostId, clusterId: hosts.clusterId }).from(vms).innerJoin(hosts, eq(hosts.id, vms.hostId)).where(eq(vms.id, vm.id));
  const pools = await tx.select({ id: storagePools.id, name: storagePools.name, path: storagePools.path }).from(storagePools)
    .where(eq(storagePools.clusterId, row!.clusterId))
    .orderBy(desc(sql`${storagePools.capacityGib} - ${storagePools.allocatedGib}`), asc(storagePools.id));
  if (pools.length === 0) throw new ConflictError(`the cluster virtual machine ${vm.name} is placed in has no storage pool for its bootable volume`, "no_storage_pool", { field: "create_bootable_volume" });
  const poolId = await reservePoolCapacity(tx, pools, sizeGib);
  const pool = pools.find((p) => p.id === poolId)!;
  const uuid = randomUUID();
  const [v] = await tx.insert(volumes).values({
    uuid, name: `${vm.name}-boot`, accountId: vm.accountId, environmentId: vm.environmentId, poolId, sizeGib, imageId: image.id,
    description: `boot disk of virtual machine ${vm.name}`, status: "available", path: `${pool.path.replace(/\/+$/, "")}/${uuid}.qcow2`,
  }).returning({ id: volumes.id });
  await link(tx, vm.id, v!.id, { hostId: row!.hostId });
}

async function link(tx: Tx, vmId: number, volumeId: number, set: { hostId?: number | null }): Promise<void> {
  await tx.insert(volumeAttachments).values({ volumeId, vmId, status: "attaching" });
  await setVolumeStatus(tx, volumeId, "attaching", `attaching as the boot disk of virtual machine ${vmId}`, set);
  await tx.update(vms).set({ bootVolumeId: volumeId }).where(eq(vms.id, vmId));
}

/** The VM's deploy defined its domain with the boot volume: attached (in-use) from now on. */
export async function settleBootVolume(tx: Tx, vm: { id: number; bootVolumeId: number | null }): Promise<void> {
  if (vm.bootVolumeId == null) return;
  const done = await tx.update(volumeAttachments).set({ status: "attached", device: BOOT_DEVICE })
    .where(and(eq(volumeAttachments.vmId, vm.id), eq(volumeAttachments.volumeId, vm.bootVolumeId), eq(volumeAttachments.status, "attaching")))
    .returning({ id: volumeAttachments.id });
  if (done.length > 0) await setVolumeStatus(tx, vm.bootVolumeId, "in-use", `attached as the boot disk of virtual machine ${vm.id}`);
}
