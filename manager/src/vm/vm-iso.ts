// CloudStack's attachIso/detachIso: one ISO image in a VM's cdrom, stored on the VM
// (vms.iso_image_id) so that every later start's spec carries it. On a stopped VM that is all;
// on a running one a vm.iso job (jobs/vm-iso.job.ts) also changes the media of its domain's
// cdrom slot at once. Any other state (starting, stopping...) is refused.
import { randomUUID } from "node:crypto";
import { and, eq } from "drizzle-orm";
import { ConflictError, InvalidArgumentError, NotFoundError, OrbitError } from "#shared/errors.js";
import type { Db, Tx } from "../db/database.js";
import { environments, flavors, images, jobs, regions, vms } from "../db/schema.js";
import { imageVisibleTo, requireImageInRegion } from "../catalog/image-access.js";
import type { Caller, JobEnqueuer } from "./vm-service.js";
import { isVmState, type VmState } from "./vm-state-machine.js";

type VmRow = typeof vms.$inferSelect;
type ImageRow = typeof images.$inferSelect;

export interface AttachedIso {
  id: number;
  name: string;
  /** Whether the running VM's cdrom is changed now (a vm.iso job), rather than at its next start. */
  live: boolean;
}

/** The states an ISO may be attached or detached in: Stopped (the next start has it) and Running (changed live). */
function requireStoppedOrRunning(state: string, id: number, action: string): VmState {
  const s = isVmState(state) ? state : "Unknown";
  if (s !== "Stopped" && s !== "Running") {
    throw new ConflictError(`virtual machine ${id} cannot ${action} while ${s}: only a Stopped or Running VM's cdrom changes`, s, { action });
  }
  return s;
}

/** What a start's spec needs of the VM's ISO: the image in its cdrom (if any), and the flavor's disk for a blank root. */
export async function isoOfVm(db: Db, vm: VmRow): Promise<{ image: ImageRow | undefined; rootDiskGib: number }> {
  const [flavor] = await db.select({ diskGib: flavors.diskGib }).from(flavors).where(eq(flavors.id, vm.flavorId));
  const [image] = vm.isoImageId == null ? [] : await db.select().from(images).where(eq(images.id, vm.isoImageId));
  return { image, rootDiskGib: flavor?.diskGib ?? 0 };
}

export class VmIsos {
  constructor(private readonly db: Db, private readonly jobsQueue: JobEnqueuer) {}

  private async changeableVm(caller: Caller, id: number, action: string): Promise<VmRow> {
    const scope = caller.role === "admin" ? undefined : eq(vms.accountId, caller.accountId);
    const [vm] = await this.db.select().from(vms).where(and(eq(vms.id, id), scope));
    if (!vm || vm.state === "Destroyed") throw new NotFoundError("virtual machine", id);
    requireStoppedOrRunning(vm.state, id, action);
    return vm;
  }

  /** A running VM's media change: its vm.iso job, run once the change is committed. */
  private async queueMediaChange(tx: Tx, vm: { id: number; accountId: number }): Promise<number> {
    const [job] = await tx.insert(jobs).values({ uuid: randomUUID(), kind: "vm.iso", vmId: vm.id, accountId: vm.accountId }).returning({ id: jobs.id });
    return job!.id;
  }

  /** Puts a Ready ISO image of the VM's region in its cdrom; 409 when one is already there. */
  async attach(caller: Caller, id: number, imageId: number): Promise<AttachedIso> {
    const vm = await this.changeableVm(caller, id, "attach an ISO");
    const [image] = await this.db.select().from(images).where(eq(images.id, imageId));
    if (!image || !imageVisibleTo(image, caller)) {
      throw new OrbitError("not_found", `image_id: image ${imageId} does not exist`, { details: { resource: "image", id: imageId, field: "image_id" } });
    }
    if (image.format !== "iso") throw new InvalidArgumentError("image_id", `image "${image.name}" is a ${image.format} disk image, not an ISO`);
    if (image.status !== "Ready") throw new InvalidArgumentError("image_id", `image "${image.name}" is not ready (${image.status})`);
    const [where] = await this.db.select({ region: regions.name }).from(environments)
      .innerJoin(regions, eq(regions.id, environments.regionId)).where(eq(environments.id, vm.environmentId));
    requireImageInRegion(image, where!.region, "image_id", `virtual machine ${id}`);
    const jobId = await this.db.transaction(async (tx) => {
      const [locked] = await tx.select({ state: vms.state, isoImageId: vms.isoImageId }).from(vms).where(eq(vms.id, id)).for("update");
      const state = requireStoppedOrRunning(locked?.state ?? "Unknown", id, "attach an ISO");
      if (locked!.isoImageId != null) {
        throw new ConflictError(`virtual machine ${id} already has ISO image ${locked!.isoImageId} attached: detach it first`, locked!.state, { iso_image_id: locked!.isoImageId });
      }
      await tx.update(vms).set({ isoImageId: image.id, updatedAt: new Date() }).where(eq(vms.id, id));
      return state === "Running" ? this.queueMediaChange(tx, vm) : undefined;
    });
    if (jobId !== undefined) this.jobsQueue.enqueue(jobId);
    return { id: image.id, name: image.name, live: jobId !== undefined };
  }

  /** Empties the VM's cdrom; 409 when it has none. A VM created from the ISO boots its disk from then on. */
  async detach(caller: Caller, id: number): Promise<AttachedIso> {
    const vm = await this.changeableVm(caller, id, "detach an ISO");
    const { image, jobId } = await this.db.transaction(async (tx) => {
      const [locked] = await tx.select({ state: vms.state, isoImageId: vms.isoImageId }).from(vms).where(eq(vms.id, id)).for("update");
      const state = requireStoppedOrRunning(locked?.state ?? "Unknown", id, "detach an ISO");
      if (locked!.isoImageId == null) throw new ConflictError(`virtual machine ${id} has no ISO attached`, locked!.state);
      const [image] = await tx.select({ id: images.id, name: images.name }).from(images).where(eq(images.id, locked!.isoImageId));
      await tx.update(vms).set({ isoImageId: null, updatedAt: new Date() }).where(eq(vms.id, id));
      return { image: image!, jobId: state === "Running" ? await this.queueMediaChange(tx, vm) : undefined };
    });
    if (jobId !== undefined) this.jobsQueue.enqueue(jobId);
    return { ...image, live: jobId !== undefined };
  }
}
