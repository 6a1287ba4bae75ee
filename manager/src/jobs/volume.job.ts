// Volume attach and detach jobs (queued by storage/volume-service.ts with the attachment already
// "attaching" or "detaching"): each sends one command to the VM's host and settles the attachment
// from the answer. volume.delete removes a deleted volume's file from its host. Same command id on every attempt: a retried command is answered from the
// agent's memory. A job that finds its attachment in another state does nothing.
import { eq } from "drizzle-orm";
import { OrbitError } from "#shared/errors.js";
import type { CommandDispatcher, VmCommandTarget } from "../agents/command-dispatcher.js";
import type { Db } from "../db/database.js";
import { images, vms, volumeAttachments, volumes } from "../db/schema.js";
import type { SettingsRegistry } from "../settings/settings-registry.js";
import type { JobHandler, JobRow } from "./job-runner.js";
import type { JobFailure } from "./vm-job-failure.js";
import { setVolumeStatus } from "../storage/volume-status.js";

export const VOLUME_JOB_KINDS = ["volume.attach", "volume.detach", "volume.delete"] as const;
export type VolumeJobKind = (typeof VOLUME_JOB_KINDS)[number];

type Dispatcher = Pick<CommandDispatcher, "attachDisk" | "detachDisk" | "deleteDisk">;

/** The guest serial of a volume's disk (virtio allows 20 characters): lets the guest find it by id. */
export function volumeSerial(volumeUuid: string): string {
  return volumeUuid.replaceAll("-", "").slice(0, 20);
}

export function volumeJob(kind: VolumeJobKind, db: Db, dispatcher: Dispatcher, settings: Pick<SettingsRegistry, "number">): JobHandler {
  return async ({ job }) => {
    if (kind === "volume.delete") return deleteFile(db, dispatcher, settings, job);
    if (job.vmId == null || job.volumeId == null) throw new OrbitError("internal", `${kind} job without a VM or a volume`);
    const [a] = await db.select().from(volumeAttachments).where(eq(volumeAttachments.volumeId, job.volumeId));
    const expects = kind === "volume.attach" ? "attaching" : "detaching";
    if (!a || a.vmId !== job.vmId || a.status !== expects) return { skipped: `attachment is ${a?.status ?? "gone"}` };
    const [vm] = await db.select().from(vms).where(eq(vms.id, job.vmId));
    const [volume] = await db.select().from(volumes).where(eq(volumes.id, job.volumeId));
    if (!vm || !volume) throw new OrbitError("internal", `VM ${job.vmId} or volume ${job.volumeId} vanished`);
    if (vm.hostId == null) throw new OrbitError("internal", `VM ${vm.id} has no host`);
    const target: VmCommandTarget = {
      hostId: vm.hostId, vmUuid: vm.uuid, vmId: vm.id, jobId: job.id, commandId: job.uuid, timeoutMs: settings.number("vm.deploy.timeout.ms"),
    };
    if (kind === "volume.attach") {
      // The agent creates the disk file when it does not exist yet (a volume's first attach): a
      // bootable volume as an overlay of its image (the simulator's images have no file).
      const [image] = volume.imageId == null ? [] : await db.select().from(images).where(eq(images.id, volume.imageId));
      const { targetDev } = await dispatcher.attachDisk(target, {
        sourcePath: volume.path, format: "qcow2", createSizeGib: volume.sizeGib, serial: volumeSerial(volume.uuid),
        backingPath: image?.path ?? "",
      });
      await db.transaction(async (tx) => {
        await tx.update(volumeAttachments).set({ status: "attached", device: `/dev/${targetDev}` }).where(eq(volumeAttachments.id, a.id));
        await setVolumeStatus(tx, volume.id, "in-use", `attached to virtual machine ${vm.id} as /dev/${targetDev}`);
      });
      return {};
    }
    try {
      await dispatcher.detachDisk(target, volume.path);
    } catch (e) {
      // Not on the domain any more (detached by hand, or the VM was defined anew without it): done.
      if (!(e instanceof OrbitError) || e.code !== "not_found") throw e;
    }
    await db.transaction(async (tx) => {
      await tx.delete(volumeAttachments).where(eq(volumeAttachments.id, a.id));
      await setVolumeStatus(tx, volume.id, "available", `detached from virtual machine ${vm.id}`);
    });
    return {};
  };
}

/** volume.delete: the deleted volume's file goes from the host that created it. */
async function deleteFile(db: Db, dispatcher: Dispatcher, settings: Pick<SettingsRegistry, "number">, job: JobRow) {
  if (job.volumeId == null) throw new OrbitError("internal", "volume.delete job without a volume");
  const [volume] = await db.select().from(volumes).where(eq(volumes.id, job.volumeId));
  if (!volume) throw new OrbitError("internal", `volume ${job.volumeId} vanished`);
  if (volume.hostId == null) return { skipped: "no host created its file" };
  await dispatcher.deleteDisk(volume.hostId, volume.path, { commandId: job.uuid, jobId: job.id, timeoutMs: settings.number("vm.deploy.timeout.ms") });
  return {};
}

/**
 * A volume job that failed for good: an attach that did not happen is undone (the volume is
 * available again), a detach that did not happen leaves the volume attached.
 */
export async function onVolumeJobFailed(db: Db, job: JobRow, _error: JobFailure): Promise<void> {
  if (job.volumeId == null || job.vmId == null) return;
  const volumeId = job.volumeId;
  await db.transaction(async (tx) => {
    const [a] = await tx.select().from(volumeAttachments).where(eq(volumeAttachments.volumeId, volumeId)).for("update");
    if (!a || a.vmId !== job.vmId) return;
    if (job.kind === "volume.attach" && a.status === "attaching") {
      await tx.delete(volumeAttachments).where(eq(volumeAttachments.id, a.id));
      await setVolumeStatus(tx, volumeId, "available", `the attach to virtual machine ${a.vmId} failed: ${_error.message}`);
    } else if (job.kind === "volume.detach" && a.status === "detaching") {
      await tx.update(volumeAttachments).set({ status: "attached" }).where(eq(volumeAttachments.id, a.id));
      await setVolumeStatus(tx, volumeId, "in-use", `the detach from virtual machine ${a.vmId} failed: ${_error.message}`);
    }
  });
}
