// What a job was asked beside its VM, stored as jobs.input when it is queued.
import type { DestroyRecurse } from "../vm/vm-lifecycle-options.js";

/** One shape for every kind, each field naming the kind that reads it. */
export interface JobInput {
  /** vm.deploy: false places the VM (capacity held) but leaves it Stopped: the host gets nothing until its first start. */
  start?: boolean;
  /**
   * vm.destroy: the attached drives to delete with the VM (CloudSigma's recurse: `all_drives` and
   * `disks` delete its volumes; `none` and `cdroms` detach them, kept and available).
   */
  recurse?: DestroyRecurse;
  /** image.download: the image row the download fills (its URL, checksum and type are on it). */
  image_id?: number;
  /** vm.scale: the running VM's size before the resize (given back if the host cannot scale it) and after. */
  scale?: { from: ScaleSize; to: ScaleSize };
  /** vm.snapshot.*: the snapshot the job creates, reverts to or deletes. */
  snapshot_id?: number;
  /** host.maintenance: the maintenance row whose VMs the job moves off its host. */
  maintenance_id?: number;
}

export interface ScaleSize { flavorId: number; vcpus: number; memoryMib: number }
