// A host's maintenance (CloudStack's prepareHostForMaintenance / cancelHostMaintenance): start it
// (the host leaves placement at once and a `host.maintenance` job moves its VMs off), read how far
// it is, cancel it. The job itself is hosts/host-maintenance.job.ts.
import { randomUUID } from "node:crypto";
import { and, eq, inArray, isNull } from "drizzle-orm";
import { ConflictError, NotFoundError } from "#shared/errors.js";
import type { Db, Tx } from "../db/database.js";
import { hostMaintenances, hosts, jobs, vmMigrations, type HostResourceState, type MaintenanceVmJson, type MigrationProgressJson } from "../db/schema.js";
import { generationToken } from "./host-generation.js";
import { maintenanceCounts } from "./maintenance-plan.js";
import type { MoveActor } from "./vm-mover.js";

export const HOST_MAINTENANCE_JOB = "host.maintenance";

/** Resource states a maintenance may start from (ErrorInMaintenance: again, retrying the failed VMs). */
const STARTABLE: readonly HostResourceState[] = ["Enabled", "Disabled", "ErrorInMaintenance"];
/** Resource states a maintenance is under way or done in (cancel brings the host back to Enabled). */
export const IN_MAINTENANCE: readonly HostResourceState[] = ["PrepareForMaintenance", "Maintenance", "ErrorInMaintenance"];

export interface MaintenanceVm extends MaintenanceVmJson {
  vm_id: number;
  /** migrating: the migration job's progress in percent. */
  progress?: number;
  /** migrating: the migration's latest sample from the hypervisor, when it reported one. */
  migrationProgress?: MigrationProgressJson;
}

export interface MaintenanceStatus {
  hostId: number;
  resourceState: HostResourceState;
  startedAt: Date;
  allowColdMigration: boolean;
  jobId: number | null;
  counts: { total: number; moved: number; remaining: number };
  vms: MaintenanceVm[];
}

export class HostMaintenance {
  constructor(
    private readonly db: Db,
    private readonly runner: { enqueue(jobId: number): void },
    /** Told when a host's resource state changed (the placement cache re-reads it). */
    private readonly changed: () => void,
  ) {}

  /**
   * Starts a maintenance: the host is PrepareForMaintenance (no new placement) before this
   * returns, and its job is queued. From ErrorInMaintenance it starts again on the same record,
   * the failed VMs queued anew.
   */
  async start(hostId: number, actor: MoveActor, opts: { allowColdMigration: boolean }): Promise<MaintenanceStatus> {
    const jobId = await this.db.transaction(async (tx) => {
      const host = await lockHost(tx, hostId);
      if (!STARTABLE.includes(host.resourceState)) {
        throw new ConflictError(
          `host ${hostId} is ${host.resourceState}: maintenance starts from ${STARTABLE.join(", ")}` +
          (host.resourceState === "Maintenance" || host.resourceState === "PrepareForMaintenance" ? " (it is in maintenance already)" : ""),
          host.resourceState,
        );
      }
      const [job] = await tx.insert(jobs).values({
        uuid: randomUUID(), kind: HOST_MAINTENANCE_JOB, accountId: actor.accountId, userId: actor.userId,
      }).returning({ id: jobs.id });
      const [active] = await tx.select().from(hostMaintenances).where(and(eq(hostMaintenances.hostId, hostId), isNull(hostMaintenances.endedAt)));
      let maintenanceId: number;
      if (active) {
        const vms = Object.fromEntries(Object.entries(active.vms).filter(([, e]) => e.status !== "failed"));
        await tx.update(hostMaintenances).set({ jobId: job!.id, allowColdMigration: opts.allowColdMigration, vms }).where(eq(hostMaintenances.id, active.id));
        maintenanceId = active.id;
      } else {
        const [row] = await tx.insert(hostMaintenances).values({ hostId, jobId: job!.id, allowColdMigration: opts.allowColdMigration }).returning({ id: hostMaintenances.id });
        maintenanceId = row!.id;
      }
      await tx.update(jobs).set({ input: { maintenance_id: maintenanceId } }).where(eq(jobs.id, job!.id));
      await setResourceState(tx, hostId, "PrepareForMaintenance");
      return job!.id;
    });
    this.changed();
    this.runner.enqueue(jobId);
    return this.status(hostId);
  }

  /** The host's maintenance as it stands; a host not in maintenance is a ConflictError naming its state. */
  async status(hostId: number): Promise<MaintenanceStatus> {
    const [host] = await this.db.select({ state: hosts.resourceState, removedAt: hosts.removedAt }).from(hosts).where(eq(hosts.id, hostId));
    if (!host || host.removedAt) throw new NotFoundError("host", hostId);
    const [m] = await this.db.select().from(hostMaintenances).where(and(eq(hostMaintenances.hostId, hostId), isNull(hostMaintenances.endedAt)));
    if (!m || !IN_MAINTENANCE.includes(host.state)) {
      throw new ConflictError(`host ${hostId} is ${host.state}: it is not in maintenance (POST /v1/admin/hosts/${hostId}/maintenance starts one)`, host.state);
    }
    const migrating = Object.values(m.vms).map((e) => e.status === "migrating" ? e.job_id : undefined).filter((id): id is number => id !== undefined);
    const progress = new Map((migrating.length
      ? await this.db.select({ id: jobs.id, progress: jobs.progress }).from(jobs).where(inArray(jobs.id, migrating))
      : []).map((j) => [j.id, j.progress]));
    const migrationIds = Object.values(m.vms).map((e) => e.status === "migrating" ? e.migration_id : undefined).filter((id): id is number => id !== undefined);
    const samples = new Map((migrationIds.length
      ? await this.db.select({ id: vmMigrations.id, progress: vmMigrations.progress }).from(vmMigrations).where(inArray(vmMigrations.id, migrationIds))
      : []).flatMap((r) => (r.progress ? [[r.id, r.progress] as const] : [])));
    return {
      hostId, resourceState: host.state, startedAt: m.startedAt, allowColdMigration: m.allowColdMigration, jobId: m.jobId,
      counts: maintenanceCounts(m.vms),
      vms: Object.entries(m.vms).map(([id, e]) => ({
        vm_id: Number(id), ...e,
        ...(e.status === "migrating" && e.job_id !== undefined && progress.has(e.job_id) ? { progress: progress.get(e.job_id)! } : {}),
        ...(e.status === "migrating" && e.migration_id !== undefined && samples.has(e.migration_id) ? { migrationProgress: samples.get(e.migration_id)! } : {}),
      })).sort((a, b) => a.vm_id - b.vm_id),
    };
  }

  /**
   * Cancels the maintenance: the host is Enabled again and its job starts no further migration.
   * Migrations already under way are left to finish (cancelling one mid-copy is the migration
   * service's own `cancel`, for an admin who wants it): their VMs end on the destination.
   */
  async cancel(hostId: number): Promise<{ hostId: number; resourceState: HostResourceState; stillMigrating: MaintenanceVm[] }> {
    const inFlight = await this.db.transaction(async (tx) => {
      const host = await lockHost(tx, hostId);
      const [m] = await tx.select().from(hostMaintenances).where(and(eq(hostMaintenances.hostId, hostId), isNull(hostMaintenances.endedAt)));
      if (!m || !IN_MAINTENANCE.includes(host.resourceState)) {
        throw new ConflictError(`host ${hostId} is ${host.resourceState}: it is not in maintenance`, host.resourceState);
      }
      await tx.update(hostMaintenances).set({ endedAt: new Date(), endedBy: "cancelled" }).where(eq(hostMaintenances.id, m.id));
      await setResourceState(tx, hostId, "Enabled");
      return Object.entries(m.vms).filter(([, e]) => e.status === "migrating").map(([id, e]) => ({ vm_id: Number(id), ...e }));
    });
    this.changed();
    return { hostId, resourceState: "Enabled", stillMigrating: inFlight };
  }
}

/** The host's row, locked for the transaction; an unknown or removed host is a NotFoundError. */
export async function lockHost(tx: Tx, hostId: number): Promise<typeof hosts.$inferSelect> {
  const [host] = await tx.select().from(hosts).where(eq(hosts.id, hostId)).for("no key update");
  if (!host || host.removedAt) throw new NotFoundError("host", hostId);
  return host;
}

/** A resource state change: a new generation, so cached placement snapshots re-read the host. */
export async function setResourceState(tx: Tx | Db, hostId: number, state: HostResourceState): Promise<void> {
  await tx.update(hosts).set({ resourceState: state, updatedAt: new Date(), generation: generationToken() }).where(eq(hosts.id, hostId));
}
