// Admin migration of a VM to another host (CloudStack's findHostsForMigration / migrateVirtualMachine):
// which hosts could take it and why the others cannot (the allocator's own filters on the VM's own
// request, as the placement dry run runs them, plus migration's rules: migration-rules.ts), the
// start of a migration (the destination reserved in the same transaction, under its host row lock,
// and the vm.migrate job queued) and its cancel. The job (jobs/vm-migrate.job.ts) moves the VM and
// settles the reservation (migration-settle.ts).
import { randomUUID } from "node:crypto";
import { and, asc, eq, inArray, isNull, ne, sql } from "drizzle-orm";
import { ConflictError, InvalidArgumentError, NotFoundError, OrbitError } from "#shared/errors.js";
import { place } from "../allocator/index.js";
import type { AllocationPolicy } from "../allocator/policy-types.js";
import type { FleetSnapshot, PlacementRequest, PlacementResult } from "../allocator/types.js";
import type { CommandDispatcher } from "../agents/command-dispatcher.js";
import type { Db, Tx } from "../db/database.js";
import {
  environments, flavors, gpuAllocations, gpus, hosts, images, jobs, regions, storagePools, vmMigrations, vms, vmSnapshots,
  volumeAttachments, volumes,
} from "../db/schema.js";
import { touchHost } from "../hosts/host-generation.js";
import type { JobInput } from "../jobs/job-input.js";
import { buildSnapshot } from "../placement/snapshot-builder.js";
import { VmService, type JobEnqueuer } from "../vm/vm-service.js";
import { transitionVm } from "../vm/vm-transitions.js";
import {
  chooseMode, destinationRefusals, storageRefusal, type MigratingVm, type MigrationHostFacts, type MigrationMode, type Refusal,
  type RequestedMode, type VmStorage,
} from "./migration-rules.js";

export const VM_MIGRATE_JOB = "vm.migrate";

export interface MigrationHostCandidate {
  hostId: number;
  hostName: string;
  suitable: boolean;
  /** Why it cannot take the VM (migration's own reasons, then the allocator's), empty when suitable. */
  reasons: Refusal[];
}

export interface MigrationHosts {
  vmId: number;
  sourceHostId: number;
  /** The mode the VM would move in (auto, stopping it when it must: a passthrough GPU VM moves cold). */
  mode: MigrationMode;
  /** Its disks are local: a live move copies them (storage_motion). */
  storageMotion: boolean;
  hosts: MigrationHostCandidate[];
}

export interface MigrateRequest {
  target: number | "auto";
  mode?: RequestedMode;
  storageMotion?: boolean;
  /** Mode auto may stop a VM that cannot move live (passthrough GPUs) and move it cold. */
  allowCold?: boolean;
}

/** A migration's record (vm_migrations), as the admin views present it. */
export type MigrationRecord = typeof vmMigrations.$inferSelect;

export interface MigrationStarted { jobId: number; migrationId: number; destinationHostId: number }

/** Who asks (recorded on the job): an admin user, or Orbit itself (host maintenance: userId null). */
export interface MigrationActor { userId: number | null; accountId?: number }

/** A refusal as an error: 409 with the stable code in details.reason (and every reason when several). */
export function refusalError(message: string, refusals: readonly Refusal[]): ConflictError {
  return new ConflictError(message, undefined, { reason: refusals[0]?.code ?? "refused", reasons: refusals.map((r) => ({ code: r.code, message: r.message })) });
}

interface VmContext {
  vm: typeof vms.$inferSelect;
  rules: MigratingVm;
  source: MigrationHostFacts;
  request: PlacementRequest;
  rootDiskGib: number;
}

export class MigrationService {
  constructor(
    private readonly db: Db,
    private readonly policy: () => AllocationPolicy,
    private readonly jobs: JobEnqueuer,
    private readonly dispatcher: Pick<CommandDispatcher, "run">,
    /** Cached placement snapshots are dropped when a reservation changes a host (their generation changes too). */
    private readonly invalidatePlacement: () => void = () => undefined,
  ) {}

  /** Every other host with whether it can take the VM, and for those that cannot, why. */
  async findHosts(vmId: number, o: { mode?: RequestedMode; storageMotion?: boolean } = {}): Promise<MigrationHosts> {
    const ctx = await this.context(this.db, vmId);
    const decided = chooseMode(ctx.rules, o.mode ?? "auto", true);
    if (!decided.ok) throw refusalError(decided.refusal.message, [decided.refusal]);
    const storageMotion = o.storageMotion ?? (decided.mode === "live" && ctx.rules.storage === "local");
    const refused = storageRefusal(ctx.rules, decided.mode, storageMotion);
    if (refused) throw refusalError(refused.message, [refused]);
    const others = (await this.hostFacts(this.db)).filter((h) => h.id !== ctx.source.id);
    const snapshot = await buildSnapshot(this.db, {});
    return {
      vmId, sourceHostId: ctx.source.id, mode: decided.mode, storageMotion,
      hosts: others.map((h) => {
        const reasons = this.reasonsFor(ctx, decided.mode, h, snapshot);
        return { hostId: h.id, hostName: h.name, suitable: reasons.length === 0, reasons };
      }),
    };
  }

  /**
   * Reserves the destination and queues vm.migrate. Refusals: ConflictError (409) with a stable
   * code in details.reason; a request that makes no sense: InvalidArgumentError (400).
   */
  async migrate(actor: MigrationActor, vmId: number, req: MigrateRequest): Promise<MigrationStarted> {
    if (req.target !== "auto" && (!Number.isInteger(req.target) || req.target < 1)) {
      throw new InvalidArgumentError("host_id", `host_id must be a host's id or "auto"`);
    }
    if (req.mode !== undefined && !["live", "cold", "auto"].includes(req.mode)) {
      throw new InvalidArgumentError("mode", `mode must be "live", "cold" or "auto", not "${String(req.mode)}"`);
    }
    const ctx = await this.context(this.db, vmId);
    const decided = chooseMode(ctx.rules, req.mode ?? "auto", req.allowCold ?? req.mode === "cold");
    if (!decided.ok) throw refusalError(decided.refusal.message, [decided.refusal]);
    const mode = decided.mode;
    const storageMotion = req.storageMotion ?? false;
    const refused = storageRefusal(ctx.rules, mode, storageMotion);
    if (refused) throw refusalError(refused.message, [refused]);

    const facts = await this.hostFacts(this.db);
    let destination: MigrationHostFacts;
    if (req.target === "auto") {
      destination = await this.autoTarget(ctx, mode, facts);
    } else {
      const d = facts.find((h) => h.id === req.target);
      if (!d) throw new NotFoundError("host", req.target as number);
      const reasons = this.reasonsFor(ctx, mode, d, await buildSnapshot(this.db, {}));
      if (reasons.length) throw refusalError(`host ${d.name} cannot take virtual machine ${vmId}: ${reasons.map((r) => r.message).join("; ")}`, reasons);
      destination = d;
    }
    const started = await this.db.transaction((tx) => this.reserve(tx, actor, ctx, destination, mode, storageMotion));
    this.invalidatePlacement();
    this.jobs.enqueue(started.jobId);
    return started;
  }

  /** Stops the VM's running migration: it stays on (or goes back to running on) its source. */
  async cancel(vmId: number): Promise<{ migrationId: number; jobId: number }> {
    const [vm] = await this.db.select().from(vms).where(and(eq(vms.id, vmId), isNull(vms.deletedAt)));
    if (!vm) throw new NotFoundError("virtual machine", vmId);
    const [m] = await this.db.update(vmMigrations).set({ cancelRequested: true })
      .where(and(eq(vmMigrations.vmId, vmId), eq(vmMigrations.state, "running"))).returning();
    if (!m) throw refusalError(`virtual machine ${vmId} has no migration running`, [{ code: "not_migrating", message: `virtual machine ${vmId} has no migration running` }]);
    if (m.mode === "live") {
      // The job checks the flag before it sends MigrateVm; once sent, only the source can stop it.
      // A copy not started yet on the host answers not_migrating: tried again briefly.
      for (let i = 0; i < 10; i++) {
        try {
          await this.dispatcher.run(m.sourceHostId, {
            commandId: randomUUID(), deadlineMs: Date.now() + 15_000, vmUuid: vm.uuid, body: { $case: "cancelMigration", value: {} },
          }, { vmId, ...(m.jobId ? { jobId: m.jobId } : {}), timeoutMs: 15_000 });
          break;
        } catch (e) {
          const code = e instanceof OrbitError ? e.code : "";
          const [still] = await this.db.select({ state: vmMigrations.state }).from(vmMigrations).where(eq(vmMigrations.id, m.id));
          if (still?.state !== "running") break;
          if (code !== "conflict" && code !== "not_found") throw e;
          await new Promise((r) => setTimeout(r, 200));
        }
      }
    }
    return { migrationId: m.id, jobId: m.jobId ?? 0 };
  }

  /** The VM's migrations, newest first (admin views). */
  async migrationsOf(vmId: number, limit = 20): Promise<(typeof vmMigrations.$inferSelect)[]> {
    return this.db.select().from(vmMigrations).where(eq(vmMigrations.vmId, vmId)).orderBy(sql`${vmMigrations.id} desc`).limit(limit);
  }

  async get(migrationId: number): Promise<typeof vmMigrations.$inferSelect> {
    const [m] = await this.db.select().from(vmMigrations).where(eq(vmMigrations.id, migrationId));
    if (!m) throw new NotFoundError("migration", migrationId);
    return m;
  }

  // ---------------------------------------------------------------- internals

  private reasonsFor(ctx: VmContext, mode: MigrationMode, h: MigrationHostFacts, snapshot: FleetSnapshot): Refusal[] {
    const own = destinationRefusals(ctx.rules, mode, ctx.source, h);
    const placed = this.placeOn(snapshot, ctx.request, h.id);
    const allocator = placed.ok ? [] : placed.rejection.hosts
      .filter((r) => r.hostId === String(h.id))
      .map((r) => ({ code: r.code, message: r.reason }));
    if (!placed.ok && allocator.length === 0) allocator.push({ code: "no_placement", message: placed.rejection.message });
    // Migration's own reasons first; the allocator's with the same code (host state, hypervisor) are not repeated.
    const seen = new Set(own.map((r) => r.code));
    return [...own, ...allocator.filter((r) => !seen.has(r.code))];
  }

  /** The request placed on one host of the snapshot (the allocator's filters and GPU choice, as the dry run runs them). */
  private placeOn(snapshot: FleetSnapshot, request: PlacementRequest, hostId: number): PlacementResult {
    const only: FleetSnapshot = { ...snapshot, hosts: snapshot.hosts.filter((h) => h.id === String(hostId)) };
    return place(only, { ...request, hostId: String(hostId), strictHostTags: true }, { seed: 1, now: new Date(), policy: this.policy() });
  }

  /** The allocator's best destination among the hosts migration's rules accept. */
  private async autoTarget(ctx: VmContext, mode: MigrationMode, facts: MigrationHostFacts[]): Promise<MigrationHostFacts> {
    const allowed = facts.filter((h) => h.id !== ctx.source.id && destinationRefusals(ctx.rules, mode, ctx.source, h).length === 0);
    if (allowed.length === 0) {
      throw refusalError(`no host can take virtual machine ${ctx.vm.id}: no other host passes migration's rules (GET its migration-hosts for why)`, [{ code: "no_suitable_host", message: "no other host passes migration's rules" }]);
    }
    const snapshot = await buildSnapshot(this.db, { hostIds: allowed.map((h) => h.id) });
    const placed = place(snapshot, { ...ctx.request, strictHostTags: true }, { seed: 1, now: new Date(), policy: this.policy() });
    if (!placed.ok) {
      const refusals = placed.rejection.hosts.map((r) => ({ code: r.code, message: `${r.hostName}: ${r.reason}` }));
      throw refusalError(`no host can take virtual machine ${ctx.vm.id}: ${placed.rejection.message}`, [{ code: "no_suitable_host", message: placed.rejection.message }, ...refusals]);
    }
    return allowed.find((h) => String(h.id) === placed.plan.placements[0]!.hostId)!;
  }

  /**
   * In one transaction: the destination's row locked, the VM re-read under lock (still as the
   * decision saw it, no migration running), the request placed again on the destination as it is
   * now (the allocator picks its GPUs), the reservation written (vm_migrations, the destination's
   * GPU rows, its pool's disk when storage moves to another pool), the VM Migrating, the job
   * queued, the destination's generation bumped: a placement committed meanwhile on the
   * destination sees the reservation or is redone.
   */
  private async reserve(
    tx: Tx, actor: MigrationActor, ctx: VmContext, dest: MigrationHostFacts, mode: MigrationMode, storageMotion: boolean,
  ): Promise<MigrationStarted> {
    // Both hosts' rows in id order, as settling and placement commits lock them: the reservation's
    // row refers to the source too, and a settle holding the source while it waits for the
    // destination would otherwise deadlock with this insert (seen in CI). NO KEY UPDATE: it
    // serialises with the other host locks but lets inserts that merely refer to a host through
    // a foreign key (commands, events) go on.
    await tx.select({ id: hosts.id }).from(hosts).where(inArray(hosts.id, [ctx.source.id, dest.id])).orderBy(asc(hosts.id)).for("no key update");
    const [vm] = await tx.select().from(vms).where(eq(vms.id, ctx.vm.id)).for("update");
    if (!vm || vm.deletedAt || vm.state !== ctx.vm.state || vm.hostId !== ctx.vm.hostId) {
      throw refusalError(`virtual machine ${ctx.vm.id} changed while its migration was prepared (now ${vm?.state ?? "deleted"}): try again`, [{ code: "vm_changed", message: "the VM changed meanwhile" }]);
    }
    const [running] = await tx.select({ id: vmMigrations.id }).from(vmMigrations).where(and(eq(vmMigrations.vmId, vm.id), eq(vmMigrations.state, "running")));
    if (running) throw refusalError(`virtual machine ${vm.id} is migrating already (migration ${running.id})`, [{ code: "already_migrating", message: "a migration of it is running" }]);
    const snapshot = await buildSnapshot(tx, { hostIds: [dest.id] });
    const placed = this.placeOn(snapshot, ctx.request, dest.id);
    if (!placed.ok) {
      const refusals = placed.rejection.hosts.map((r) => ({ code: r.code, message: r.reason }));
      throw refusalError(`host ${dest.name} cannot take virtual machine ${vm.id} any more: ${refusals.map((r) => r.message).join("; ") || placed.rejection.message}`, refusals);
    }
    const p = placed.plan.placements[0]!;
    // Storage motion into another cluster: the root disk is counted in the destination's pool too until the end.
    let destinationPoolId: number | null = null;
    let reservedDiskGib = 0;
    if (storageMotion && vm.rootDiskPoolId != null && ctx.rootDiskGib > 0 && dest.clusterId !== ctx.source.clusterId) {
      const [pool] = await tx.select({ id: storagePools.id }).from(storagePools)
        .where(eq(storagePools.clusterId, dest.clusterId)).orderBy(sql`${storagePools.kind} = 'local' desc`, asc(storagePools.id)).limit(1);
      if (pool) {
        const grown = await tx.update(storagePools).set({ allocatedGib: sql`${storagePools.allocatedGib} + ${ctx.rootDiskGib}` })
          .where(and(eq(storagePools.id, pool.id), sql`${storagePools.allocatedGib} + ${ctx.rootDiskGib} <= ${storagePools.capacityGib}`))
          .returning({ id: storagePools.id });
        if (!grown.length) throw refusalError(`the storage pool of host ${dest.name}'s cluster has no room for the VM's ${ctx.rootDiskGib} GiB root disk`, [{ code: "storage_pool_full", message: "the destination's pool is full" }]);
        destinationPoolId = pool.id;
        reservedDiskGib = ctx.rootDiskGib;
      }
    }
    const input: JobInput = {};
    const [job] = await tx.insert(jobs).values({
      uuid: randomUUID(), kind: VM_MIGRATE_JOB, vmId: vm.id, accountId: actor.accountId ?? vm.accountId, userId: actor.userId, input,
    }).returning({ id: jobs.id });
    const [m] = await tx.insert(vmMigrations).values({
      vmId: vm.id, jobId: job!.id, sourceHostId: ctx.source.id, destinationHostId: dest.id, mode, storageMotion,
      wasRunning: vm.state === "Running", reservedVcpus: p.vcpus, reservedMemoryMib: p.memoryMib, destinationPoolId, reservedDiskGib,
    }).returning({ id: vmMigrations.id });
    if (p.gpus.length) {
      await tx.insert(gpuAllocations).values(p.gpus.map((g) => ({
        vmId: vm.id, hostId: dest.id, gpuId: Number(g.gpuId), mode: g.mode, vgpuType: g.vgpuType ?? "", shareMilli: g.shareMilli ?? 0,
      })));
    }
    await transitionVm(tx, vm.id, "Migrating", `migration ${m!.id} to host ${dest.name} (${mode})`, {
      reason: `${mode} migration to host ${dest.name}`,
    });
    await touchHost(tx, dest.id);
    return { jobId: job!.id, migrationId: m!.id, destinationHostId: dest.id };
  }

  private async context(db: Db | Tx, vmId: number): Promise<VmContext> {
    const [row] = await db.select({ vm: vms, flavor: flavors, image: images, region: regions.name }).from(vms)
      .innerJoin(flavors, eq(flavors.id, vms.flavorId)).innerJoin(images, eq(images.id, vms.imageId))
      .innerJoin(environments, eq(environments.id, vms.environmentId)).innerJoin(regions, eq(regions.id, environments.regionId))
      .where(and(eq(vms.id, vmId), isNull(vms.deletedAt)));
    if (!row) throw new NotFoundError("virtual machine", vmId);
    const vm = row.vm;
    if (vm.hostId == null) throw refusalError(`virtual machine ${vmId} is on no host (${vm.state})`, [{ code: "vm_state", message: "it is on no host" }]);
    const facts = await this.hostFacts(db, [vm.hostId]);
    const source = facts[0]!;
    const gpuModes = (await db.select({ mode: gpuAllocations.mode }).from(gpuAllocations)
      .where(and(eq(gpuAllocations.vmId, vm.id), eq(gpuAllocations.hostId, vm.hostId)))).map((g) => g.mode);
    const [snaps] = await db.select({ n: sql<number>`count(*)::int` }).from(vmSnapshots).where(eq(vmSnapshots.vmId, vm.id));
    const request = VmService.placementRequest(row.flavor, row.image, row.region, vm.accountId, 1);
    return {
      vm,
      rules: { id: vm.id, state: vm.state, gpuModes, storage: await storageOf(db, vm), snapshots: Number(snaps?.n ?? 0) },
      source,
      request: { ...request, vcpus: vm.vcpus, memoryMib: vm.memoryMib, hypervisor: source.hypervisor },
      rootDiskGib: vm.rootDiskGib ?? 0,
    };
  }

  private async hostFacts(db: Db | Tx, ids?: number[]): Promise<MigrationHostFacts[]> {
    const rows = await db.select().from(hosts).where(ids ? inArray(hosts.id, ids) : undefined).orderBy(asc(hosts.id));
    const drivers = rows.length
      ? await db.select({ hostId: gpus.hostId, v: gpus.driverVersion }).from(gpus).where(and(inArray(gpus.hostId, rows.map((h) => h.id)), eq(gpus.present, true)))
      : [];
    return rows.map((h) => ({
      id: h.id, name: h.name, state: h.state, resourceState: h.resourceState, hypervisor: h.hypervisor, cpuArch: h.cpuArch,
      clusterId: h.clusterId, migrationUri: h.migrationUri, hypervisorVersion: h.hypervisorVersion,
      gpuDriverVersions: drivers.filter((d) => d.hostId === h.id).map((d) => d.v),
    }));
  }
}

/**
 * Where the VM's disks are: shared when every one (owned root disk, boot volume, attached
 * volumes) is in a shared pool; local otherwise, and for a root disk counted in no pool (a file on
 * its host).
 */
export async function storageOf(db: Db | Tx, vm: typeof vms.$inferSelect): Promise<VmStorage> {
  const poolIds: (number | null)[] = [];
  if (vm.bootVolumeId == null) poolIds.push(vm.rootDiskPoolId);
  const vols = await db.select({ poolId: volumes.poolId }).from(volumes)
    .leftJoin(volumeAttachments, eq(volumeAttachments.volumeId, volumes.id))
    .where(and(isNull(volumes.deletedAt), vm.bootVolumeId != null
      ? sql`(${volumes.id} = ${vm.bootVolumeId} or ${volumeAttachments.vmId} = ${vm.id})`
      : eq(volumeAttachments.vmId, vm.id)));
  poolIds.push(...vols.map((v) => v.poolId));
  if (poolIds.some((p) => p == null)) return "local";
  const ids = [...new Set(poolIds as number[])];
  if (ids.length === 0) return "local";
  const kinds = await db.select({ kind: storagePools.kind }).from(storagePools).where(and(inArray(storagePools.id, ids), ne(storagePools.kind, "shared")));
  return kinds.length ? "local" : "shared";
}
