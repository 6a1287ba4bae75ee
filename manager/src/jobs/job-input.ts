// What a job was asked beside its VM, stored as jobs.input when it is queued.
import type { DestroyRecurse } from "../vm/vm-lifecycle-options.js";

/** One shape for every kind, each field naming the kind that reads it. */
export interface JobInput {
  /** vm.deploy: false places the VM (capacity held) but leaves it Stopped: the host gets nothing until its first start. */
  start?: boolean;
  /**
   * vm.destroy: the attached drives to delete with the VM (CloudSigma's recurse). Recorded for the
   * storage issue (13), which attaches drives: until then a VM has only its root disk, always deleted.
   */
  recurse?: DestroyRecurse;
  /** image.download: the image row the download fills (its URL, checksum and type are on it). */
  image_id?: number;
}
