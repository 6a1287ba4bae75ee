// What follows from a host being Down (fenced): each of its VMs that ran (or was starting) is
// released from it in one transaction per VM (allocation and GPUs; a stale_copies row remembers
// that the host may still hold its domain). HA VMs (restart-policy.ts) with shared disks are placed
// again through the allocator (the Down host takes nothing) in priority order (vms.ha_priority,
// higher first, then older VMs) and a vm.start job is queued on the new host in the same
// transaction; the others go Down, keeping nothing. Stopped and hibernated VMs keep their place
// (nothing runs; they start when their host is back). Idempotent: run after every check, it
// also retries HA VMs left Down because no host could take them.
import { randomUUID } from "node:crypto";
import { and, asc, desc, eq, inArray, isNull } from "drizzle-orm";
import type { Logger } from "pino";
import { ConflictError } from "#shared/errors.js";
import { rejectionError } from "../allocator/index.js";
import type { VmPlacement } from "../allocator/types.js";
import type { Db, Tx } from "../db/database.js";
import {
  affinityGroupMembers, affinityGroups, allocations, environments, flavors, gpuAllocations, hosts, images, jobs, regions, staleCopies, storagePools,
  volumeAttachments, volumes, vms,
} from "../db/schema.js";
import { generationToken, touchHost } from "../hosts/host-generation.js";
import type { PlacementService } from "../placement/placement-service.js";
import { VmService } from "../vm/vm-service.js";
import { transitionVm } from "../vm/vm-transitions.js";
import { isVmState, type VmState } from "../vm/vm-state-machine.js";
import { restartsOnHostLoss } from "./restart-policy.js";
import { rememberStaleCopy } from "./stale-copies.js";

/** States of a VM on a Down host that mean its domain ran or was meant to run there. */
const LOST_STATES: readonly VmState[] = ["Running", "Unknown", "Starting", "Stopping"];

export interface FailoverOutcome { vmId: number; outcome: "restarted" | "down"; hostId?: number; reason: string }

type VmRow = typeof vms.$inferSelect;

/** Frees what the VM holds on a host (allocation, GPUs) without a state change. */
async function releaseFromHost(tx: Tx, vmId: number, hostId: number): Promise<void> {
  await tx.delete(gpuAllocations).where(eq(gpuAllocations.vmId, vmId));
  await tx.delete(allocations).where(eq(allocations.vmId, vmId));
  await touchHost(tx, hostId);
}

export class HostFailover {
  constructor(
    private readonly db: Db,
    private readonly placement: Pick<PlacementService, "dryRun" | "invalidate">,
    private readonly jobsQueue: { enqueue(jobId: number): void },
    private readonly log: Logger,
  ) {}

  /** Handles every VM of the Down host that still needs it; returns what was done. */
  async failover(hostId: number): Promise<FailoverOutcome[]> {
    // The allocator names clusters by id.
    const [row] = await this.db.select({ id: hosts.id, name: hosts.name, state: hosts.state, clusterId: hosts.clusterId }).from(hosts).where(eq(hosts.id, hostId));
    const host = row && { ...row, cluster: String(row.clusterId) };
    if (!host || host.state !== "Down") return [];
    const candidates = await this.db.select().from(vms)
      .where(and(eq(vms.hostId, hostId), isNull(vms.deletedAt), inArray(vms.state, [...LOST_STATES, "Down"])))
      .orderBy(desc(vms.haPriority), asc(vms.createdAt), asc(vms.id));
    // A Down VM is retried only when HA would restart it and nothing but capacity stopped it.
    const due = candidates.filter((vm) => vm.state !== "Down" || (restartsOnHostLoss(vm) && vm.stateReason.startsWith(NO_HOST_REASON)));
    if (due.length === 0) return [];
    // The Down host must not be in a cached snapshot as Up.
    this.placement.invalidate();
    const out: FailoverOutcome[] = [];
    for (const vm of due) {
      try {
        const o = await this.failoverVm(vm, host);
        if (o) out.push(o);
      } catch (e) {
        this.log.error({ err: e, vmId: vm.id, hostId }, "HA: handling a VM of a Down host failed; retried at the next check");
      }
    }
    return out;
  }

  private async failoverVm(vm: VmRow, host: { id: number; name: string; cluster: string }): Promise<FailoverOutcome | undefined> {
    const lost = `host ${host.name} is Down (fenced)`;
    if (!restartsOnHostLoss(vm)) {
      return this.goDown(vm, host, `${lost}: the VM is not HA (ha_enabled false, run strategy ${vm.runStrategy ?? "none"}): not restarted`);
    }
    const local = await this.localDisks(vm);
    if (local) return this.goDown(vm, host, `${lost}: ${local}, so it cannot be restarted on another host`);
    for (let attempt = 0; attempt < 5; attempt++) {
      const request = await this.request(vm, host.cluster);
      const placed = await this.placement.dryRun(request);
      if (!placed.ok) return this.goDown(vm, host, `${NO_HOST_REASON}: ${placed.rejection.message} (${lost}; retried at each HA check)`);
      const p = placed.plan.placements[0]!;
      const done = await this.restartOn(vm, host, p, `${lost}: HA restart on host ${p.hostName}`);
      if (done) return done;
    }
    return undefined; // The target kept changing: the next check tries again.
  }

  /**
   * Its owner starts a VM left Down with its lost host (not HA, or HA still waiting for room):
   * placed anew as HA would (its disks must be on shared storage), Starting with a start job.
   * Refusals are 409s naming the reason (local disks, no host can take it, its old host's copy
   * still being destroyed).
   */
  async startDown(vmId: number, by: string): Promise<{ jobId: number; hostId: number }> {
    for (let attempt = 0; attempt < 5; attempt++) {
      const [vm] = await this.db.select().from(vms).where(and(eq(vms.id, vmId), isNull(vms.deletedAt)));
      if (!vm || vm.state !== "Down" || vm.hostId == null) throw new ConflictError(`virtual machine ${vmId} is ${vm?.state ?? "gone"}, not Down`, vm?.state ?? "Destroyed");
      const [old] = await this.db.select({ id: hosts.id, name: hosts.name, clusterId: hosts.clusterId }).from(hosts).where(eq(hosts.id, vm.hostId));
      const local = await this.localDisks(vm);
      if (local) throw new ConflictError(`virtual machine ${vmId} cannot start on another host: ${local}; it starts again once host ${old?.name ?? vm.hostId} is back and it is restored there by an admin, or it can be deleted`, "Down", { reason: "local_disks" });
      const placed = await this.placement.dryRun(await this.request(vm, String(old!.clusterId)));
      if (!placed.ok) throw rejectionError({ ...placed.rejection, message: `virtual machine ${vmId} cannot start on another host: ${placed.rejection.message}` });
      const p = placed.plan.placements[0]!;
      const done = await this.restartOn(vm, old!, p, `started by ${by} after host ${old!.name} was lost; placed on host ${p.hostName}`, `${by} started it after its host was lost`);
      if (done && done.hostId !== undefined && done.jobId !== undefined) return { jobId: done.jobId, hostId: done.hostId };
      if (done === undefined) throw new ConflictError(`virtual machine ${vmId} changed while it was being placed: try again`, "Down");
    }
    throw new ConflictError(`virtual machine ${vmId}: the hosts kept changing while it was placed; try again`, "Down");
  }

  /** Why the VM's disks cannot follow it to another host (undefined: they can). */
  private async localDisks(vm: VmRow): Promise<string | undefined> {
    if (vm.bootVolumeId == null) {
      if (vm.rootDiskPoolId == null) return "its root disk is on its host (no storage pool)";
      const [pool] = await this.db.select({ kind: storagePools.kind, name: storagePools.name }).from(storagePools).where(eq(storagePools.id, vm.rootDiskPoolId));
      if (pool?.kind !== "shared") return `its root disk is in local storage pool ${pool?.name ?? vm.rootDiskPoolId}`;
    }
    const attachedIds = (await this.db.select({ id: volumeAttachments.volumeId }).from(volumeAttachments).where(eq(volumeAttachments.vmId, vm.id))).map((a) => a.id);
    if (vm.bootVolumeId != null) attachedIds.push(vm.bootVolumeId);
    if (attachedIds.length === 0) return undefined;
    const attached = await this.db.select({ name: volumes.name, kind: storagePools.kind, pool: storagePools.name })
      .from(volumes).innerJoin(storagePools, eq(storagePools.id, volumes.poolId)).where(inArray(volumes.id, attachedIds));
    const localVolume = attached.find((v) => v.kind !== "shared");
    return localVolume ? `its volume ${localVolume.name} is in local storage pool ${localVolume.pool}` : undefined;
  }

  private async request(vm: VmRow, cluster: string) {
    const [row] = await this.db.select({ flavor: flavors, image: images, region: regions.name }).from(flavors)
      .innerJoin(images, eq(images.id, vm.imageId))
      .innerJoin(environments, eq(environments.id, vm.environmentId))
      .innerJoin(regions, eq(regions.id, environments.regionId))
      .where(eq(flavors.id, vm.flavorId));
    if (!row) throw new ConflictError(`virtual machine ${vm.id}: its flavor, image or environment is gone`, vm.state);
    // Its affinity groups hold as at a deploy (members on the Down host do not count: allocator/affinity-hosts.ts).
    const groups = await this.db.select({ id: affinityGroups.id, kind: affinityGroups.type, strict: affinityGroups.strict })
      .from(affinityGroupMembers).innerJoin(affinityGroups, eq(affinityGroups.id, affinityGroupMembers.groupId))
      .where(eq(affinityGroupMembers.vmId, vm.id));
    // Its size now (a resize changed it), within the dead host's cluster (its shared storage).
    return {
      ...VmService.placementRequest(row.flavor, row.image, row.region, vm.accountId, 1), vcpus: vm.vcpus, memoryMib: vm.memoryMib, cluster,
      ...(groups.length ? { affinityGroups: groups.map((g) => ({ id: String(g.id), kind: g.kind, strict: g.strict })) } : {}),
    };
  }

  /** Down, keeping nothing; the host may still hold the domain (a stale copy, its disks kept). */
  private async goDown(vm: VmRow, host: { id: number }, reason: string): Promise<FailoverOutcome | undefined> {
    const done = await this.db.transaction(async (tx) => {
      const [locked] = await tx.select({ state: vms.state, hostId: vms.hostId, stateReason: vms.stateReason }).from(vms).where(eq(vms.id, vm.id)).for("update");
      if (!locked || locked.hostId !== host.id || !isVmState(locked.state)) return false;
      if (locked.state === "Down") {
        // Still no host (retried every round): written only when the reason changed.
        if (locked.stateReason !== reason) await tx.update(vms).set({ stateReason: reason, updatedAt: new Date() }).where(eq(vms.id, vm.id));
        return false;
      }
      if (!LOST_STATES.includes(locked.state)) return false;
      await transitionVm(tx, vm.id, "Down", "HA: host declared Down", { onlyFrom: [locked.state], reason, powerState: "NOSTATE" });
      await releaseFromHost(tx, vm.id, host.id);
      await rememberStaleCopy(tx, host.id, vm, "the VM went Down with its host", false);
      return true;
    });
    if (!done) return undefined;
    this.log.warn({ vmId: vm.id, hostId: host.id, reason }, "HA: VM Down with its host");
    return { vmId: vm.id, outcome: "down", reason };
  }

  /**
   * In one transaction: the target host still at the generation the placement saw, the VM
   * released from the dead host and placed on the new one, Starting, with its start job.
   * False when the target changed meanwhile (placed again).
   */
  private async restartOn(
    vm: VmRow, dead: { id: number; name: string }, p: VmPlacement, reason: string, cause = `HA: restart after host ${dead.name} went Down`,
  ): Promise<(FailoverOutcome & { jobId?: number }) | undefined | false> {
    const targetId = Number(p.hostId);
    const jobId = await this.db.transaction(async (tx) => {
      const [target] = await tx.select({ generation: hosts.generation, state: hosts.state }).from(hosts).where(eq(hosts.id, targetId)).for("no key update");
      if (!target || target.state !== "Up" || (p.hostGeneration !== undefined && target.generation !== p.hostGeneration)) return false;
      const [locked] = await tx.select({ state: vms.state, hostId: vms.hostId }).from(vms).where(eq(vms.id, vm.id)).for("update");
      if (!locked || locked.hostId !== dead.id || !isVmState(locked.state)) return undefined;
      if (locked.state !== "Down" && !LOST_STATES.includes(locked.state)) return undefined;
      if (locked.state !== "Down") {
        await transitionVm(tx, vm.id, "Down", "HA: host declared Down", { onlyFrom: [locked.state], reason, powerState: "NOSTATE" });
      }
      await releaseFromHost(tx, vm.id, dead.id);
      if (targetId !== dead.id) await rememberStaleCopy(tx, dead.id, vm, `restarted on host ${p.hostName}`, false);
      else {
        // Back on the host it was lost with (an owner's start once it returned): only once the old copy is gone.
        const [pending] = await tx.select({ id: staleCopies.id }).from(staleCopies)
          .where(and(eq(staleCopies.hostId, dead.id), eq(staleCopies.vmId, vm.id), isNull(staleCopies.destroyedAt)));
        if (pending) throw new ConflictError(`virtual machine ${vm.id}: its old copy on host ${dead.name} is still being destroyed; try again shortly`, "Down");
      }
      await tx.insert(allocations).values({
        vmId: vm.id, hostId: targetId, vcpus: vm.vcpus, memoryMib: vm.memoryMib,
        numaNode: p.numaNode ?? -1, pinnedCpus: p.pinnedCpus ?? [],
      });
      for (const g of p.gpus) {
        await tx.insert(gpuAllocations).values({
          vmId: vm.id, hostId: targetId, gpuId: Number(g.gpuId), mode: g.mode, vgpuType: g.vgpuType ?? "", shareMilli: g.shareMilli ?? 0,
        });
      }
      await tx.update(hosts).set({ generation: generationToken() }).where(eq(hosts.id, targetId));
      await tx.update(vms).set({ hostId: targetId, crashRestarts: 0, crashRestartAt: null }).where(eq(vms.id, vm.id));
      await transitionVm(tx, vm.id, "Starting", cause, { onlyFrom: ["Down"], reason });
      const [job] = await tx.insert(jobs).values({ uuid: randomUUID(), kind: "vm.start", vmId: vm.id, accountId: vm.accountId }).returning({ id: jobs.id });
      return job!.id;
    });
    if (jobId === false) return false;
    if (jobId === undefined) return undefined;
    this.placement.invalidate();
    this.jobsQueue.enqueue(jobId);
    this.log.warn({ vmId: vm.id, from: dead.id, to: targetId, jobId }, "HA: restarting a VM of a Down host on another host");
    return { vmId: vm.id, outcome: "restarted", hostId: targetId, reason, jobId };
  }
}

/** The reason an HA VM is left Down when no host could take it (retried at each check). */
export const NO_HOST_REASON = "HA restart pending: no host can take it now";
