// VM snapshots (CloudStack's VM snapshots, on Hyperstack's /v1/core/snapshots routes): a VM's
// disks and, with memory, its running state, kept on its host (internal qcow2 snapshots on
// libvirt). Each operation is a job (jobs/vm-snapshot.job.ts); this checks CloudStack's rules
// first, in one transaction holding the VM's row:
// - at most `vmsnapshot.max` snapshots per VM (Error ones not counted): 409 naming the limit;
// - one snapshot operation per VM at a time (a snapshot Creating, Reverting or Deleting): 409;
// - memory needs a running VM (400) without a GPU (409: device state cannot be saved);
// - the VM must be Running or Stopped (409 naming its state).
// Elsewhere: volumes do not attach or detach, and the VM is not reinstalled, while it has
// snapshots (storage/volume-service.ts, vm-actions.ts),
// a resize drops memory snapshots (dropMemorySnapshots, vm-actions.ts), a destroy removes them all.
// Each snapshot's disk use counts in its VM's storage pool: an estimate reserved here, with the
// create (409 when the pool is full), settled and released by the jobs (storage/snapshot-pool-use.ts).
import { randomUUID } from "node:crypto";
import { and, asc, count, desc, eq, ilike, inArray, or, sql } from "drizzle-orm";
import { ConflictError, InvalidArgumentError, NotFoundError } from "#shared/errors.js";
import type { Db, Tx } from "../db/database.js";
import { environments, flavors, gpuAllocations, images, ipAllocations, jobs, regions, vms, vmSnapshots, type VmSnapshotState } from "../db/schema.js";
import type { SettingsRegistry } from "../settings/settings-registry.js";
import { releaseVmSnapshotsUse, reserveSnapshotUse, snapshotEstimateGib } from "../storage/snapshot-pool-use.js";
import type { Caller, JobEnqueuer } from "./vm-service.js";

export type VmSnapshotRow = typeof vmSnapshots.$inferSelect;
/** A snapshot as the API shows it: its row, its VM's region and whether the VM has a floating IP. */
export type VmSnapshot = VmSnapshotRow & { regionId: number; hasFloatingIp: boolean };
/** One snapshot with what Hyperstack's retrieve shows of its VM. */
export type VmSnapshotDetails = VmSnapshot & {
  vm: { name: string; state: string; flavor: string; image: string; keyName: string; environment: string; region: string };
};

export const VM_SNAPSHOT_JOB_KINDS = ["vm.snapshot.create", "vm.snapshot.revert", "vm.snapshot.delete"] as const;
export type VmSnapshotJobKind = (typeof VM_SNAPSHOT_JOB_KINDS)[number];

/** States of a snapshot an operation is under way in: the VM takes no other snapshot operation meanwhile. */
export const BUSY_SNAPSHOT_STATES: readonly VmSnapshotState[] = ["Creating", "Reverting", "Deleting"];

export interface CreateSnapshotInput {
  name: string;
  description?: string | undefined;
  memory?: boolean | undefined;
  quiesce?: boolean | undefined;
}

type VmRow = typeof vms.$inferSelect;

/** The VM's snapshot operation in progress, if any: 409 naming it. */
function refuseWhileBusy(vmId: number, rows: readonly VmSnapshotRow[]): void {
  const busy = rows.find((r) => BUSY_SNAPSHOT_STATES.includes(r.state));
  if (busy) {
    throw new ConflictError(`virtual machine ${vmId} has a snapshot operation in progress (snapshot ${busy.id} is ${busy.state}): one at a time, try again when it is done`,
      busy.state, { snapshot_id: busy.id });
  }
}

function requireRunningOrStopped(vm: Pick<VmRow, "id" | "state">, action: string): void {
  if (vm.state !== "Running" && vm.state !== "Stopped") {
    throw new ConflictError(`virtual machine ${vm.id} is ${vm.state}: snapshots are ${action} when it is Running or Stopped`, vm.state, { action });
  }
}

/**
 * The VM's memory snapshots, made Deleting with a vm.snapshot.delete job each (a flavor change:
 * their saved state is of the old size). Returns the jobs to enqueue once the transaction commits.
 */
export async function dropMemorySnapshots(tx: Tx, vm: { id: number; accountId: number }): Promise<number[]> {
  const rows = await tx.select().from(vmSnapshots).where(eq(vmSnapshots.vmId, vm.id)).for("update");
  refuseWhileBusy(vm.id, rows);
  const jobIds: number[] = [];
  for (const r of rows.filter((x) => x.memory)) {
    await tx.update(vmSnapshots).set({ state: "Deleting", updatedAt: new Date() }).where(eq(vmSnapshots.id, r.id));
    jobIds.push(await insertSnapshotJob(tx, "vm.snapshot.delete", vm, r.id));
  }
  return jobIds;
}

/**
 * 409 when the VM has snapshots: its disks cannot change under them (a volume attached or
 * detached: a revert would bring back other disks; a reinstall: they live in the root disk).
 */
export async function refuseWithSnapshots(tx: Tx | Db, vmId: number, what: "attach" | "detach" | "reinstall"): Promise<void> {
  const [{ n }] = (await tx.select({ n: count() }).from(vmSnapshots).where(eq(vmSnapshots.vmId, vmId))) as [{ n: number }];
  if (Number(n) > 0) {
    const cannot = what === "reinstall" ? "it cannot be reinstalled" : `volumes cannot ${what}`;
    throw new ConflictError(`virtual machine ${vmId} has ${n} snapshot(s): ${cannot} while it has snapshots (delete them first)`, "has_snapshots", { snapshots: Number(n) });
  }
}

async function insertSnapshotJob(tx: Tx, kind: VmSnapshotJobKind, vm: { id: number; accountId: number }, snapshotId: number, userId?: number): Promise<number> {
  const [job] = await tx.insert(jobs).values({
    uuid: randomUUID(), kind, vmId: vm.id, accountId: vm.accountId, input: { snapshot_id: snapshotId }, ...(userId !== undefined ? { userId } : {}),
  }).returning({ id: jobs.id });
  return job!.id;
}

export class VmSnapshots {
  constructor(private readonly db: Db, private readonly jobsQueue: JobEnqueuer, private readonly settings: Pick<SettingsRegistry, "number">) {}

  private scope(caller: Caller) {
    return caller.role === "admin" ? undefined : eq(vmSnapshots.accountId, caller.accountId);
  }

  /** The caller's VM (an admin's: any), not destroyed. */
  private async vmOf(caller: Caller, id: number): Promise<VmRow> {
    const scope = caller.role === "admin" ? undefined : eq(vms.accountId, caller.accountId);
    const [vm] = await this.db.select().from(vms).where(and(eq(vms.id, id), scope));
    if (!vm || vm.state === "Destroyed") throw new NotFoundError("virtual machine", id);
    return vm;
  }

  private async withRegion(rows: VmSnapshotRow[]): Promise<VmSnapshot[]> {
    if (rows.length === 0) return [];
    const vmIds = [...new Set(rows.map((r) => r.vmId))];
    const where = await this.db.select({ vmId: vms.id, regionId: environments.regionId }).from(vms)
      .innerJoin(environments, eq(environments.id, vms.environmentId)).where(inArray(vms.id, vmIds));
    const floating = await this.db.select({ vmId: vms.id }).from(vms)
      .innerJoin(ipAllocations, and(eq(ipAllocations.vmUuid, vms.uuid), eq(ipAllocations.kind, "floating"))).where(inArray(vms.id, vmIds));
    const byVm = new Map(where.map((r) => [r.vmId, r.regionId]));
    const withFloating = new Set(floating.map((f) => f.vmId));
    return rows.map((r) => ({ ...r, regionId: byVm.get(r.vmId) ?? 0, hasFloatingIp: withFloating.has(r.vmId) }));
  }

  /** One snapshot with its VM's name, state, flavor, image, key pair, environment and region. */
  async details(caller: Caller, id: number): Promise<VmSnapshotDetails> {
    const snap = await this.get(caller, id);
    const [vm] = await this.db.select({
      name: vms.name, state: vms.state, keyName: vms.keyName, flavor: flavors.name, image: images.name, environment: environments.name, region: regions.name,
    }).from(vms).innerJoin(flavors, eq(flavors.id, vms.flavorId)).innerJoin(images, eq(images.id, vms.imageId))
      .innerJoin(environments, eq(environments.id, vms.environmentId)).innerJoin(regions, eq(regions.id, environments.regionId))
      .where(eq(vms.id, snap.vmId));
    if (!vm) throw new NotFoundError("snapshot", id);
    return { ...snap, vm };
  }

  async create(caller: Caller, vmId: number, input: CreateSnapshotInput): Promise<{ snapshot: VmSnapshot; jobId: number }> {
    const memory = input.memory ?? false;
    const quiesce = input.quiesce ?? false;
    if (memory && quiesce) throw new InvalidArgumentError("quiesce", "a memory snapshot keeps the guest's running state whole: quiesce is for snapshots without memory");
    const vm = await this.vmOf(caller, vmId);
    const max = this.settings.number("vmsnapshot.max");
    const out = await this.db.transaction(async (tx) => {
      const [locked] = await tx.select().from(vms).where(eq(vms.id, vm.id)).for("update");
      requireRunningOrStopped(locked!, "taken");
      if (memory && locked!.state !== "Running") {
        throw new InvalidArgumentError("memory", `virtual machine ${vm.id} is ${locked!.state}: only a running VM has a memory state to snapshot (memory: false takes its disks)`);
      }
      if (memory) {
        const gpus = await tx.select({ mode: gpuAllocations.mode }).from(gpuAllocations).where(eq(gpuAllocations.vmId, vm.id));
        if (gpus.length > 0) {
          throw new ConflictError(`virtual machine ${vm.id} has a ${gpus[0]!.mode} GPU: its device state cannot be saved, so a memory snapshot is refused (memory: false takes its disks)`,
            "gpu", { gpu_mode: gpus[0]!.mode });
        }
      }
      const existing = await tx.select().from(vmSnapshots).where(eq(vmSnapshots.vmId, vm.id)).orderBy(asc(vmSnapshots.id));
      refuseWhileBusy(vm.id, existing);
      const kept = existing.filter((r) => r.state !== "Error").length;
      if (kept >= max) {
        throw new ConflictError(`virtual machine ${vm.id} has ${kept} snapshots, the most allowed (vmsnapshot.max = ${max}): delete one first`,
          "snapshot_limit", { setting: "vmsnapshot.max", limit: max });
      }
      const [taken] = await tx.select({ id: vmSnapshots.id }).from(vmSnapshots)
        .where(and(eq(vmSnapshots.accountId, vm.accountId), eq(vmSnapshots.name, input.name)));
      if (taken) throw new ConflictError(`a snapshot named "${input.name}" already exists (snapshot ${taken.id}): snapshot names are unique in an account`, "name_taken", { field: "name" });
      const parent = existing.find((r) => r.current);
      const [row] = await tx.insert(vmSnapshots).values({
        vmId: vm.id, accountId: vm.accountId, name: input.name, description: input.description ?? "", memory, quiesce,
        parentId: parent?.id ?? null, state: "Creating", hostName: `orbit-${randomUUID()}`,
      }).returning();
      const estimate = snapshotEstimateGib({ running: locked!.state === "Running", memoryMib: locked!.memoryMib });
      await reserveSnapshotUse(tx, row!.id, vm.id, estimate);
      const jobId = await insertSnapshotJob(tx, "vm.snapshot.create", vm, row!.id, caller.userId);
      const [counted] = await tx.select().from(vmSnapshots).where(eq(vmSnapshots.id, row!.id));
      return { row: counted!, jobId };
    });
    this.jobsQueue.enqueue(out.jobId);
    const [snapshot] = await this.withRegion([out.row]);
    return { snapshot: snapshot!, jobId: out.jobId };
  }

  async get(caller: Caller, id: number): Promise<VmSnapshot> {
    const [row] = await this.db.select().from(vmSnapshots).where(and(eq(vmSnapshots.id, id), this.scope(caller)));
    if (!row) throw new NotFoundError("snapshot", id);
    return (await this.withRegion([row]))[0]!;
  }

  /** The caller's snapshots (an admin's: all), newest first; of one VM when vmId is given. */
  async list(caller: Caller, q: { vmId?: number; page: number; pageSize: number; search?: string | undefined }): Promise<{ snapshots: VmSnapshot[]; total: number }> {
    if (q.vmId !== undefined) await this.vmOf(caller, q.vmId);
    const search = q.search?.trim();
    const where = and(
      this.scope(caller),
      q.vmId !== undefined ? eq(vmSnapshots.vmId, q.vmId) : undefined,
      search ? or(ilike(vmSnapshots.name, `%${search.replace(/[\\%_]/g, (c) => `\\${c}`)}%`), /^\d{1,9}$/.test(search) ? eq(vmSnapshots.id, Number(search)) : undefined) : undefined,
    );
    const [{ n }] = (await this.db.select({ n: count() }).from(vmSnapshots).where(where)) as [{ n: number }];
    const rows = await this.db.select().from(vmSnapshots).where(where).orderBy(desc(vmSnapshots.id)).limit(q.pageSize).offset((q.page - 1) * q.pageSize);
    return { snapshots: await this.withRegion(rows), total: Number(n) };
  }

  async nameAvailable(caller: Caller, name: string): Promise<boolean> {
    const [row] = await this.db.select({ id: vmSnapshots.id }).from(vmSnapshots).where(and(eq(vmSnapshots.accountId, caller.accountId), eq(vmSnapshots.name, name)));
    return !row;
  }

  /** Reverts the VM to a Ready snapshot: a memory one leaves it Running, another Stopped. */
  async revert(caller: Caller, id: number): Promise<{ snapshot: VmSnapshot; jobId: number }> {
    return this.operate(caller, id, "vm.snapshot.revert", "Reverting", (snap) => {
      if (snap.state !== "Ready") throw new ConflictError(`snapshot ${snap.id} is ${snap.state}: only a Ready snapshot can be reverted to`, snap.state);
    });
  }

  /** Deletes a Ready snapshot, or one in Error (whatever the host may have of it goes too). */
  async delete(caller: Caller, id: number): Promise<{ snapshot: VmSnapshot; jobId: number }> {
    return this.operate(caller, id, "vm.snapshot.delete", "Deleting", (snap) => {
      if (snap.state !== "Ready" && snap.state !== "Error") throw new ConflictError(`snapshot ${snap.id} is ${snap.state}: wait for it to finish`, snap.state);
    });
  }

  private async operate(caller: Caller, id: number, kind: VmSnapshotJobKind, during: VmSnapshotState, check: (s: VmSnapshotRow) => void): Promise<{ snapshot: VmSnapshot; jobId: number }> {
    const found = await this.get(caller, id);
    const out = await this.db.transaction(async (tx) => {
      const [vm] = await tx.select().from(vms).where(eq(vms.id, found.vmId)).for("update");
      if (!vm || vm.state === "Destroyed") throw new NotFoundError("snapshot", id);
      const rows = await tx.select().from(vmSnapshots).where(eq(vmSnapshots.vmId, vm.id));
      const snap = rows.find((r) => r.id === id);
      if (!snap) throw new NotFoundError("snapshot", id);
      check(snap);
      refuseWhileBusy(vm.id, rows);
      // A snapshot in Error may be deleted whatever the VM does; everything else needs it Running or Stopped.
      if (!(kind === "vm.snapshot.delete" && snap.state === "Error")) requireRunningOrStopped(vm, kind === "vm.snapshot.revert" ? "reverted" : "deleted");
      const [row] = await tx.update(vmSnapshots).set({ state: during, error: "", updatedAt: new Date() }).where(eq(vmSnapshots.id, id)).returning();
      return { row: row!, jobId: await insertSnapshotJob(tx, kind, vm, id, caller.userId) };
    });
    this.jobsQueue.enqueue(out.jobId);
    return { snapshot: { ...out.row, regionId: found.regionId, hasFloatingIp: found.hasFloatingIp }, jobId: out.jobId };
  }
}

/** Removes a destroyed VM's snapshot rows (its host removed the snapshots with the domain). */
export async function forgetVmSnapshots(tx: Tx, vmId: number): Promise<void> {
  await releaseVmSnapshotsUse(tx, vmId);
  await tx.update(vmSnapshots).set({ parentId: null }).where(eq(vmSnapshots.vmId, vmId));
  await tx.delete(vmSnapshots).where(eq(vmSnapshots.vmId, vmId));
}

/** Makes one snapshot the VM's current one (the parent of its next). */
export async function makeCurrent(tx: Tx, vmId: number, snapshotId: number | null): Promise<void> {
  await tx.update(vmSnapshots).set({ current: sql`${vmSnapshots.id} = ${snapshotId ?? 0}` }).where(eq(vmSnapshots.vmId, vmId));
}
