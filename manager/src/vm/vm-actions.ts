// A user's actions on a VM that exists: power actions and reinstall (each a job, the VM in its
// in-flight state at once), a stopped VM's new SSH key, labels and name (plain updates). Which
// action makes sense in which state is the state machine's (planAction); another account's VM is
// a 404.
import { randomUUID } from "node:crypto";
import { and, eq, inArray } from "drizzle-orm";
import { ConflictError, InvalidArgumentError, NotFoundError, OrbitError, UnsupportedError } from "#shared/errors.js";
import { enqueueVmCallback } from "../callbacks/callback-outbox.js";
import type { Db, Tx } from "../db/database.js";
import { allocations, environments, flavors, hosts, images, jobs, regions, vms } from "../db/schema.js";
import { dropMemorySnapshots, refuseWithSnapshots } from "./vm-snapshots.js";
import { actionEvent } from "../events/vm-event.js";
import { touchHost } from "../hosts/host-generation.js";
import { VM_CLONE_JOB_KINDS } from "../jobs/vm-clone.job.js";
import { checkAccountLimits } from "../placement/account-limits.js";
import { rejectionError, type PlacementService } from "../placement/placement-service.js";
import { imagesVisibleTo, requireImageInRegion } from "../catalog/image-access.js";
import { keyPairNamed, type Caller, type JobEnqueuer } from "./vm-service.js";
import { transitionVm } from "./vm-transitions.js";
import { liveResizeRefusal } from "./live-resize-rules.js";
import type { SettingsRegistry } from "../settings/settings-registry.js";
import type { JobInput } from "../jobs/job-input.js";
import { VM_SCALE_JOB } from "../jobs/vm-scale.job.js";
import { strategyAfterAction } from "../ha/restart-policy.js";
import { isVmState, planAction, requireStopped, type VmAction, type VmState } from "./vm-state-machine.js";
import { growRootDiskForFlavor } from "../storage/root-disks.js";

export interface ActionStarted { jobId: number; state: VmState }

/**
 * A stopped VM whose disk a clone's job has yet to copy stays stopped until it has (a running
 * VM's disk cannot be copied consistently): a 409 naming the clone. Called under the VM's lock,
 * which a clone also takes to be accepted.
 */
async function refuseWhileCopied(tx: Tx, id: number, from: VmState): Promise<void> {
  const [copying] = await tx.select({ cloneId: vms.id }).from(jobs).innerJoin(vms, eq(vms.id, jobs.vmId))
    .where(and(eq(vms.clonedFromVmId, id), inArray(jobs.kind, [...VM_CLONE_JOB_KINDS]), inArray(jobs.status, ["pending", "running"]))).limit(1);
  if (copying) {
    throw new ConflictError(`virtual machine ${id} cannot start while its disk is being copied to its clone ${copying.cloneId}: try again once the clone is made`, from, { clone_id: copying.cloneId });
  }
}

/** A start on a host HA lost (Suspect, Alert, Down) would wait for it in vain: a 409 naming it. */
async function refuseOnLostHost(tx: Tx, id: number, hostId: number | null, action: string): Promise<void> {
  if (hostId == null) return;
  const [h] = await tx.select({ name: hosts.name, state: hosts.state }).from(hosts).where(eq(hosts.id, hostId));
  if (h && (h.state === "Suspect" || h.state === "Alert" || h.state === "Down")) {
    throw new ConflictError(`virtual machine ${id} cannot ${action}: its host ${h.name} is ${h.state} (lost); it can start once the host is back, or be deleted`, h.state, { host_state: h.state });
  }
}

export class VmActions {
  constructor(
    private readonly db: Db, private readonly jobsQueue: JobEnqueuer, private readonly placement: Pick<PlacementService, "dryRun">,
    private readonly settings: Pick<SettingsRegistry, "get">,
    /** Starts a VM left Down with its lost host on another host (ha/host-failover.ts startDown). */
    private readonly startDown?: (vmId: number, by: string) => Promise<{ jobId: number }>,
  ) {}

  private async row(caller: Caller, id: number) {
    const scope = caller.role === "admin" ? undefined : eq(vms.accountId, caller.accountId);
    const [vm] = await this.db.select({ id: vms.id, state: vms.state, accountId: vms.accountId, bootVolumeId: vms.bootVolumeId }).from(vms).where(and(eq(vms.id, id), scope));
    if (!vm || vm.state === "Destroyed") throw new NotFoundError("virtual machine", id);
    return vm;
  }

  /**
   * Checks the action against the VM's state, moves it to the in-flight state and queues the job,
   * in one transaction under the VM's row lock (two concurrent stops: the second sees Stopping).
   */
  async power(caller: Caller, id: number, action: VmAction): Promise<ActionStarted> {
    const vm = await this.row(caller, id);
    // Down: its host was lost and it holds nothing; a start places it anew, as HA would (CloudStack starts such a VM elsewhere).
    if (action === "start" && vm.state === "Down" && this.startDown) {
      const { jobId } = await this.startDown(id, caller.role === "admin" ? "an admin" : "its owner");
      return { jobId, state: "Starting" };
    }
    const { jobId, state } = await this.db.transaction(async (tx) => {
      const [locked] = await tx.select({ state: vms.state, runStrategy: vms.runStrategy, hostId: vms.hostId }).from(vms).where(eq(vms.id, id)).for("update");
      const from: VmState = locked && isVmState(locked.state) ? locked.state : "Unknown";
      const plan = planAction(action, from, `virtual machine ${id}`);
      if (plan.during === "Starting") await refuseOnLostHost(tx, id, locked?.hostId ?? null, action);
      if (plan.job === "vm.start") await refuseWhileCopied(tx, id, from);
      // KubeVirt: stopping an Always VM makes it Halted (not restarted), starting a Halted one Always.
      const strategy = strategyAfterAction(locked?.runStrategy ?? null, action);
      if (strategy) await tx.update(vms).set({ runStrategy: strategy }).where(eq(vms.id, id));
      if (plan.during) await transitionVm(tx, id, plan.during, `user requested ${action}`);
      const [job] = await tx.insert(jobs).values({
        uuid: randomUUID(), kind: plan.job, vmId: id, accountId: vm.accountId, userId: caller.userId ?? null,
      }).returning({ id: jobs.id });
      return { jobId: job!.id, state: plan.during ?? from };
    });
    this.jobsQueue.enqueue(jobId);
    return { jobId, state };
  }

  /**
   * Reinstall (CloudStack's restoreVirtualMachine): the VM's root disk made afresh on its image,
   * or on `imageName` (an image of the VM's region), which becomes the VM's image. The job stops a
   * running VM for it and starts it again; flavor, addresses and keys stay.
   */
  async reinstall(caller: Caller, id: number, imageName?: string): Promise<ActionStarted & { imageName: string }> {
    const vm = await this.row(caller, id);
    // Its disk is a volume, the user's data: a reinstall would replace an owned overlay it does not have.
    if (vm.bootVolumeId != null) {
      throw new ConflictError(`virtual machine ${id} boots from volume ${vm.bootVolumeId}: a reinstall replaces an image-backed root disk, which it has not`, "boot_volume");
    }
    const image = imageName === undefined ? undefined : await this.imageInRegionOf(caller, id, imageName);
    // A root disk is made afresh on a disk image; an ISO is installed from, by booting it (attach-iso).
    if (image?.format === "iso") {
      throw new InvalidArgumentError("image_name", `image "${image.name}" is an ISO: a reinstall makes the root disk on a disk image; attach the ISO (POST .../attach-iso) to install from it`);
    }
    if (!image) {
      const [current] = await this.db.select({ name: images.name, format: images.format }).from(vms).innerJoin(images, eq(images.id, vms.imageId)).where(eq(vms.id, id));
      if (current?.format === "iso") {
        throw new ConflictError(`virtual machine ${id} was created from ISO "${current.name}": name a disk image (image_name) to reinstall it`, "iso_image");
      }
    }
    const { jobId, state } = await this.db.transaction(async (tx) => {
      const [locked] = await tx.select({ state: vms.state, imageId: vms.imageId }).from(vms).where(eq(vms.id, id)).for("update");
      const from: VmState = locked && isVmState(locked.state) ? locked.state : "Unknown";
      const plan = planAction("reinstall", from, `virtual machine ${id}`);
      // CloudStack's rule too: the snapshots live in the root disk a reinstall replaces.
      await refuseWithSnapshots(tx, id, "reinstall");
      await transitionVm(tx, id, plan.during!, `user requested reinstall${image ? ` from image ${image.name}` : ""}`);
      if (image) {
        await tx.update(vms).set({ imageId: image.id, updatedAt: new Date() }).where(eq(vms.id, id));
        // A bigger image makes a bigger root disk: its growth is reserved (or the reinstall refused).
        await growRootDiskForFlavor(tx, id);
      }
      const [job] = await tx.insert(jobs).values({ uuid: randomUUID(), kind: plan.job, vmId: id, accountId: vm.accountId }).returning({ id: jobs.id });
      return { jobId: job!.id, state: plan.during! };
    });
    this.jobsQueue.enqueue(jobId);
    const [now] = await this.db.select({ name: images.name }).from(vms).innerJoin(images, eq(images.id, vms.imageId)).where(eq(vms.id, id));
    return { jobId, state, imageName: now!.name };
  }

  /** An image the caller may use of the VM's region by name: 404 when there is none of that name, 400 when it is another region's. */
  private async imageInRegionOf(caller: Caller, vmId: number, name: string): Promise<typeof images.$inferSelect> {
    const [image] = await this.db.select().from(images).where(and(eq(images.name, name), imagesVisibleTo(caller)));
    if (!image) {
      throw new OrbitError("not_found", `image_name: image "${name}" does not exist`, { details: { resource: "image", id: name, field: "image_name" } });
    }
    const [where] = await this.db.select({ region: regions.name }).from(vms)
      .innerJoin(environments, eq(environments.id, vms.environmentId)).innerJoin(regions, eq(regions.id, environments.regionId)).where(eq(vms.id, vmId));
    requireImageInRegion(image, where!.region, "image_name", `virtual machine ${vmId}`);
    return image;
  }

  /**
   * CloudStack's resetSSHKeyForVirtualMachine: a stopped VM gets the caller's key pair `keyName`
   * (of the VM's environment) in place of its key, and a new cloud-init instance-id so that its
   * next boot installs it. Nothing runs on the host until then: the action's job is recorded done.
   */
  async resetSshKey(caller: Caller, id: number, keyName: string): Promise<{ jobId: number; keyName: string }> {
    const scope = caller.role === "admin" ? undefined : eq(vms.accountId, caller.accountId);
    const [vm] = await this.db.select({ state: vms.state, accountId: vms.accountId, environmentId: vms.environmentId }).from(vms).where(and(eq(vms.id, id), scope));
    if (!vm || vm.state === "Destroyed") throw new NotFoundError("virtual machine", id);
    const what = `virtual machine ${id}`;
    const why = "stop it first (the new key is installed by cloud-init at the VM's next boot)";
    requireStopped(isVmState(vm.state) ? vm.state : "Unknown", what, "reset its SSH key", why);
    const [env] = await this.db.select({ id: environments.id, name: environments.name }).from(environments).where(eq(environments.id, vm.environmentId));
    const kp = await keyPairNamed(this.db, caller.accountId, env!, keyName);
    const jobId = await this.db.transaction(async (tx) => {
      const [locked] = await tx.select({ state: vms.state }).from(vms).where(eq(vms.id, id)).for("update");
      requireStopped(locked && isVmState(locked.state) ? locked.state : "Unknown", what, "reset its SSH key", why);
      await tx.update(vms).set({
        keyName: kp.name, sshAuthorizedKeys: [kp.publicKey], seedInstanceId: randomUUID(), updatedAt: new Date(),
      }).where(eq(vms.id, id));
      const now = new Date();
      const [job] = await tx.insert(jobs).values({
        uuid: randomUUID(), kind: "vm.reset-ssh-key", vmId: id, accountId: vm.accountId,
        status: "succeeded", progress: 100, attempts: 1, result: { key_name: kp.name }, finishedAt: now,
      }).returning();
      await enqueueVmCallback(tx, id, (ref) => actionEvent(ref, job!, "requested"));
      await enqueueVmCallback(tx, id, (ref) => actionEvent(ref, job!, "succeeded", now));
      return job!.id;
    });
    return { jobId, keyName: kp.name };
  }

  /** Replaces the VM's labels (Hyperstack's PUT .../label sets the whole list). */
  async setLabels(caller: Caller, id: number, labels: readonly string[]): Promise<void> {
    await this.row(caller, id);
    await this.db.update(vms).set({ labels: [...new Set(labels)], updatedAt: new Date() }).where(eq(vms.id, id));
  }

  async rename(caller: Caller, id: number, name: string): Promise<void> {
    await this.row(caller, id);
    await this.db.update(vms).set({ name, updatedAt: new Date() }).where(eq(vms.id, id));
  }

  /**
   * A new flavor, on the same host: what it grows by is placed there through the placement service
   * (the host's filters and capacity as a deploy sees them); then, under the account's and the
   * host's locks, the account's limits are checked, the host must not have changed since (its
   * generation), and the allocation and the VM move to the new size in one transaction.
   * A stopped VM: the next start defines the domain with the new size. A running one (dynamic
   * scaling, live-resize-rules.ts): the same accounting, and a vm.scale job that sets the running
   * domain's vCPUs and memory (it gives the capacity back if the host cannot). Answers the job, if any.
   */
  async resize(caller: Caller, id: number, flavorName: string): Promise<{ jobId?: number }> {
    const scope = caller.role === "admin" ? undefined : eq(vms.accountId, caller.accountId);
    const [vm] = await this.db.select().from(vms).where(and(eq(vms.id, id), scope));
    if (!vm || vm.state === "Destroyed") throw new NotFoundError("virtual machine", id);
    const live = vm.state === "Running";
    if (vm.state !== "Stopped" && !live) {
      throw new ConflictError(`virtual machine ${id} is ${vm.state}: a VM is resized stopped, or running (live, when enable.dynamic.scale.vm is on)`, vm.state);
    }
    const [flavor] = await this.db.select().from(flavors).where(eq(flavors.name, flavorName));
    if (!flavor) throw new InvalidArgumentError("flavor_name", `flavor "${flavorName}" does not exist`);
    const [current] = await this.db.select().from(flavors).where(eq(flavors.id, vm.flavorId));
    if (flavor.id === vm.flavorId) throw new InvalidArgumentError("flavor_name", `virtual machine ${id} already has flavor "${flavorName}"`);
    const gpuShape = (f: typeof flavor) => [f.gpuCount, f.gpuShareMilli, f.vgpuType ?? "", f.gpuModel ?? ""].join("/");
    if (live) {
      const refusal = liveResizeRefusal({
        vmId: id, enabled: this.settings.get<boolean>("enable.dynamic.scale.vm") === true,
        headroom: { maxVcpus: vm.scaleMaxVcpus, maxMemoryMib: vm.scaleMaxMemoryMib, minMemoryMib: vm.scaleMinMemoryMib },
        from: { vcpus: vm.vcpus, memoryMib: vm.memoryMib, gpuShape: gpuShape(current!) },
        to: { vcpus: flavor.vcpus, memoryMib: flavor.memoryMib, gpuShape: gpuShape(flavor), flavorName },
      });
      if (refusal) throw refusal;
    } else if (gpuShape(flavor) !== gpuShape(current!)) {
      throw new UnsupportedError(`resizing to a flavor with other GPUs is not supported yet ("${current!.name}" → "${flavorName}")`, "flavor_name");
    }
    const [alloc] = await this.db.select().from(allocations).where(eq(allocations.vmId, id));
    if (!alloc || vm.hostId == null) throw new ConflictError(`virtual machine ${id} holds no capacity on a host`, vm.state);
    if (alloc.pinnedCpus.length > 0) throw new UnsupportedError(`virtual machine ${id} has pinned CPUs: resizing it is not supported yet`, "flavor_name");
    const growth = { vcpus: Math.max(0, flavor.vcpus - vm.vcpus), memoryMib: Math.max(0, flavor.memoryMib - vm.memoryMib) };
    const [host] = await this.db.select({ generation: hosts.generation }).from(hosts).where(eq(hosts.id, vm.hostId));
    const [env] = await this.db.select({ name: environments.name }).from(environments).where(eq(environments.id, vm.environmentId));
    const [image] = await this.db.select({ osType: images.osType }).from(images).where(eq(images.id, vm.imageId));
    const grows = growth.vcpus + growth.memoryMib > 0;
    if (grows) {
      // The allocator places at least one vCPU: a growth in memory only asks for one more than it
      // needs (a refusal on a host with no vCPU to spare). A shrink needs no room and no check.
      const placed = await this.placement.dryRun({
        vcpus: Math.max(1, growth.vcpus), memoryMib: growth.memoryMib, count: 1, accountId: String(vm.accountId),
        environment: env!.name, hostId: String(vm.hostId), hostTags: flavor.hostTags, strictHostTags: true,
        osType: image!.osType, ...(flavor.cpuType ? { cpuType: flavor.cpuType } : {}),
      });
      if (!placed.ok && live) {
        // Moving it live to a host with room is the migration issue's; until then the VM stays as it is.
        // (Which host, and its free capacity, are the operator's business: not in a user's answer.)
        throw new ConflictError(`virtual machine ${id} is running and its host has no room for flavor "${flavorName}" (${placed.rejection.message}): `
          + `live migration to a host with room is not available yet; stop it and resize it, or free room on its host`, vm.state, { rule: "no_room_on_host" });
      }
      if (!placed.ok) throw rejectionError(placed.rejection);
    }
    const out = await this.db.transaction(async (tx) => {
      const breach = await checkAccountLimits(tx, new Map([[vm.accountId, { vms: 0, ...growth, gpus: 0 }]]));
      if (breach) throw breach;
      const [locked] = await tx.select({ generation: hosts.generation }).from(hosts).where(eq(hosts.id, vm.hostId!)).for("no key update");
      if (grows && locked?.generation !== host?.generation) {
        throw new ConflictError(`host capacity changed while virtual machine ${id} was being resized: try again`, vm.state, { retryable: true });
      }
      const [now] = await tx.select({ state: vms.state, flavorId: vms.flavorId }).from(vms).where(eq(vms.id, id)).for("update");
      if (now?.state !== vm.state || now.flavorId !== vm.flavorId) {
        throw new ConflictError(`virtual machine ${id} changed while being resized (now ${now?.state})`, now?.state ?? "Unknown");
      }
      if (live) {
        const [scaling] = await tx.select({ id: jobs.id }).from(jobs)
          .where(and(eq(jobs.vmId, id), eq(jobs.kind, VM_SCALE_JOB), inArray(jobs.status, ["pending", "running"]))).limit(1);
        if (scaling) throw new ConflictError(`virtual machine ${id} is being resized live by job ${scaling.id}: try again once it is done`, vm.state, { job_id: scaling.id });
      }
      // A bigger disk is reserved in the root disk's pool, or the resize is refused (409 naming the pool).
      await growRootDiskForFlavor(tx, id, flavor);
      await tx.update(allocations).set({ vcpus: flavor.vcpus, memoryMib: flavor.memoryMib }).where(eq(allocations.vmId, id));
      await tx.update(vms).set({ flavorId: flavor.id, vcpus: flavor.vcpus, memoryMib: flavor.memoryMib, updatedAt: new Date() }).where(eq(vms.id, id));
      await touchHost(tx, vm.hostId!);
      // Memory snapshots saved the old size's running state: dropped (CloudStack's rule).
      const snapshotJobs = await dropMemorySnapshots(tx, vm);
      if (!live) return { snapshotJobs };
      const input: JobInput = { scale: { from: { flavorId: vm.flavorId, vcpus: vm.vcpus, memoryMib: vm.memoryMib }, to: { flavorId: flavor.id, vcpus: flavor.vcpus, memoryMib: flavor.memoryMib } } };
      const [job] = await tx.insert(jobs).values({
        uuid: randomUUID(), kind: VM_SCALE_JOB, vmId: id, accountId: vm.accountId, userId: caller.userId ?? null, input,
      }).returning({ id: jobs.id });
      return { snapshotJobs, jobId: job!.id };
    });
    for (const jobId of out.snapshotJobs) this.jobsQueue.enqueue(jobId);
    if (out.jobId !== undefined) this.jobsQueue.enqueue(out.jobId);
    return out.jobId === undefined ? {} : { jobId: out.jobId };
  }
}
