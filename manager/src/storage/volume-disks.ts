// A VM's attached volumes as the disks of its spec: not owned (the VM's destroy leaves them), so
// a stop/start (which defines the domain anew from the spec) keeps them attached.
import { and, asc, eq, inArray, isNull, ne, or } from "drizzle-orm";
import type { DiskSpec } from "#shared/protocol.js";
import type { Db, Tx } from "../db/database.js";
import { images, vms, volumeAttachments, volumes } from "../db/schema.js";
import { deleteVolumeRow } from "./volume-service.js";
import { setVolumeStatus } from "./volume-status.js";

export async function attachedVolumeDisks(db: Db | Tx, vmId: number): Promise<DiskSpec[]> {
  // "attaching" ones are not on the host yet (their job creates and attaches them).
  // The boot volume is not among them: it is the first disk (bootVolumeDisk).
  const rows = await db.select({ v: volumes }).from(volumeAttachments).innerJoin(volumes, eq(volumes.id, volumeAttachments.volumeId))
    .innerJoin(vms, eq(vms.id, volumeAttachments.vmId))
    .where(and(eq(volumeAttachments.vmId, vmId), inArray(volumeAttachments.status, ["attached", "detaching"]),
      or(isNull(vms.bootVolumeId), ne(vms.bootVolumeId, volumes.id))))
    .orderBy(asc(volumeAttachments.id));
  return rows.map(({ v }) => volumeDisk(v));
}

/**
 * The disk of the volume a VM boots from (undefined: it boots from an owned overlay). Not owned;
 * with its image as backing path, so the host that first starts the VM makes the volume's file
 * as an overlay of the image when it does not exist yet (as an attach's createSizeGib does).
 */
export async function bootVolumeDisk(db: Db | Tx, vm: Pick<typeof vms.$inferSelect, "bootVolumeId">): Promise<DiskSpec | undefined> {
  if (vm.bootVolumeId == null) return undefined;
  const [row] = await db.select({ v: volumes, imagePath: images.path }).from(volumes).leftJoin(images, eq(images.id, volumes.imageId))
    .where(eq(volumes.id, vm.bootVolumeId));
  if (!row) return undefined;
  return { ...volumeDisk(row.v), backingPath: row.imagePath ?? "" };
}

export function volumeDisk(v: typeof volumes.$inferSelect): DiskSpec {
  return { id: `volume-${v.uuid}`, device: "disk", sourcePath: v.path, format: "qcow2", sizeGib: v.sizeGib, bus: "virtio", owned: false, backingPath: "", copyFromVmUuid: "" };
}

/**
 * The VM's attachments go, in the transaction that destroys it: its volumes become available, or
 * with `deleteVolumes` (CloudSigma's recurse) are deleted. Returns the volume.delete jobs queued
 * (the caller enqueues them after the commit).
 */
export async function releaseVmVolumes(tx: Tx, vmId: number, deleteVolumes = false): Promise<number[]> {
  const gone = await tx.delete(volumeAttachments).where(eq(volumeAttachments.vmId, vmId)).returning({ volumeId: volumeAttachments.volumeId });
  const ids = gone.map((g) => g.volumeId);
  if (ids.length === 0) return [];
  await setVolumeStatus(tx, ids, "available", `detached: virtual machine ${vmId} was deleted`);
  if (!deleteVolumes) return [];
  const jobIds: number[] = [];
  for (const row of await tx.select().from(volumes).where(inArray(volumes.id, ids)).orderBy(asc(volumes.id))) {
    const jobId = await deleteVolumeRow(tx, row);
    if (jobId != null) jobIds.push(jobId);
  }
  return jobIds;
}
