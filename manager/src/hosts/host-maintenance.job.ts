// The `host.maintenance` job: passes over the host's VMs until none runs there. Each pass re-reads
// the maintenance record, the VMs on the host and the migrations it started, decides each VM's
// next step (hosts/maintenance-plan.ts) and writes what it did back to the record, so a job
// resumed by a restarted manager carries on from what remains.
import { and, eq, inArray, isNull, ne } from "drizzle-orm";
import { OrbitError } from "#shared/errors.js";
import type { Db } from "../db/database.js";
import { gpuAllocations, hostMaintenances, hosts, jobs, vms, type MaintenanceVmJson } from "../db/schema.js";
import type { JobHandler, JobResult } from "../jobs/job-runner.js";
import type { VmState } from "../vm/vm-state-machine.js";
import { setResourceState } from "./host-maintenance.js";
import { nextStep, passOutcome, type VmOnHost } from "./maintenance-plan.js";
import type { MoveActor, VmMover } from "./vm-mover.js";

/** Refusals of the migration service: shown on the VM (blocked, or stays when stopped), not a failure of the maintenance. */
const REFUSALS: ReadonlySet<string> = new Set(["conflict", "invalid_argument", "insufficient_capacity", "unsupported"]);

export interface HostMaintenanceJobOptions {
  db: Db;
  mover: VmMover;
  /** Told when the host's resource state changed. */
  changed: () => void;
  /** Wait between passes while VMs are queued, migrating or blocked. */
  pollMs?: number;
}

export function hostMaintenanceJob(o: HostMaintenanceJobOptions): JobHandler {
  const pollMs = o.pollMs ?? 1000;
  return async (ctx) => {
    const maintenanceId = ctx.job.input.maintenance_id;
    if (maintenanceId === undefined) throw new OrbitError("internal", `job ${ctx.job.id} names no maintenance`);
    const actor = { accountId: ctx.job.accountId, userId: ctx.job.userId };
    for (;;) {
      const result = await pass(o, maintenanceId, ctx.job.id, actor);
      if (result) return result;
      await ctx.progress(await movedPercent(o.db, maintenanceId));
      await sleep(pollMs, ctx.signal);
      // A stopping manager: retryable, so the next one resumes the job from the record.
      if (ctx.signal.aborted) throw new OrbitError("internal", "manager stopping; the maintenance resumes at the next start", { retryable: true });
    }
  };
}

/** One pass; a result when the job is over (the host is in Maintenance or ErrorInMaintenance, or the maintenance ended). */
async function pass(o: HostMaintenanceJobOptions, maintenanceId: number, jobId: number, actor: MoveActor): Promise<JobResult | undefined> {
  const [m] = await o.db.select().from(hostMaintenances).where(eq(hostMaintenances.id, maintenanceId));
  if (!m || m.endedAt) return { skipped: `maintenance ${m?.endedBy ?? "ended"}` };
  // A newer POST (after ErrorInMaintenance) started another job on the same record: this one stops.
  if (m.jobId !== jobId) return { skipped: "superseded by a newer maintenance job" };
  const hostId = m.hostId;
  const onHost = await vmsOnHost(o.db, hostId);
  const entries: Record<string, MaintenanceVmJson> = { ...m.vms };

  // Migrations under way: their job says how they ended.
  const following = Object.values(entries).map((e) => (e.status === "migrating" ? e.job_id : undefined)).filter((id): id is number => id !== undefined);
  const migrationJobs = new Map((following.length
    ? await o.db.select({ id: jobs.id, status: jobs.status, error: jobs.error }).from(jobs).where(inArray(jobs.id, following))
    : []).map((j) => [j.id, j]));
  for (const [id, e] of Object.entries(entries)) {
    if (e.status !== "migrating" || e.job_id === undefined) continue;
    const j = migrationJobs.get(e.job_id);
    if (j?.status === "succeeded") entries[id] = { ...e, status: "moved" };
    else if (j?.status === "failed" || !j) entries[id] = { ...e, status: "failed", error: j?.error?.message ?? `migration job ${e.job_id} not found` };
  }

  // VMs recorded but no longer on the host (moved or destroyed by someone else): settled.
  const here = new Set(onHost.map((v) => String(v.id)));
  for (const [id, e] of Object.entries(entries)) {
    if (here.has(id) || e.status === "migrating" || e.status === "moved" || e.status === "failed") continue;
    entries[id] = { status: "moved", reason: "left the host by other means" };
  }

  for (const vm of onHost) {
    const step = nextStep(vm, entries[String(vm.id)], m.allowColdMigration);
    if (step.do === "keep") continue;
    if (step.do === "hold") { entries[String(vm.id)] = step.entry; continue; }
    // Cancelled meanwhile: start nothing more.
    if (!(await stillActive(o.db, maintenanceId))) return { skipped: "maintenance cancelled" };
    try {
      const started = await migrate(o.mover, actor, vm.id, step.mode);
      entries[String(vm.id)] = { status: "migrating", job_id: started.jobId, migration_id: started.migrationId, destination_host_id: started.destinationHostId, mode: step.mode };
    } catch (e) {
      if (!(e instanceof OrbitError) || !REFUSALS.has(e.code)) throw e;
      entries[String(vm.id)] = vm.state === "Stopped"
        ? { status: "stays", reason: `stays stopped on this host: ${e.message}` }
        : { status: "blocked", reason: e.message };
    }
  }

  const failed = Object.values(entries).some((e) => e.status === "failed");
  const outcome = passOutcome(await vmsOnHost(o.db, hostId), entries);
  const state = outcome === "maintenance" ? "Maintenance" : outcome === "error" || failed ? "ErrorInMaintenance" : "PrepareForMaintenance";
  // The pass's record and the host's state are written together under the host's row lock, which
  // a cancel takes too, and only while the maintenance is active: a cancel in between wins (it
  // must not be followed by this pass setting the host back to PrepareForMaintenance).
  const written = await o.db.transaction(async (tx) => {
    const [host] = await tx.select({ state: hosts.resourceState }).from(hosts).where(eq(hosts.id, hostId)).for("no key update");
    const active = await tx.update(hostMaintenances).set({ vms: entries })
      .where(and(eq(hostMaintenances.id, maintenanceId), isNull(hostMaintenances.endedAt))).returning({ id: hostMaintenances.id });
    if (active.length === 0) return "cancelled" as const;
    if (host && host.state !== state) {
      await setResourceState(tx, hostId, state);
      return "changed" as const;
    }
    return "same" as const;
  });
  if (written === "cancelled") return { skipped: "maintenance cancelled" };
  if (written === "changed") o.changed();
  if (outcome === "continue") return undefined;
  return { resource_state: state };
}

/**
 * Asks the migration service to move the VM, target auto. A running VM whose disks are local to
 * the host is refused a plain live move (reason local_storage): it is asked again with storage
 * motion, its disks copied with its memory, since maintenance must empty the host.
 */
async function migrate(mover: VmMover, actor: MoveActor, vmId: number, mode: "live" | "cold") {
  try {
    return await mover.migrate(actor, vmId, { target: "auto", mode, allowCold: mode === "cold" });
  } catch (e) {
    if (mode !== "live" || !(e instanceof OrbitError) || e.details.reason !== "local_storage") throw e;
    return mover.migrate(actor, vmId, { target: "auto", mode, allowCold: false, storageMotion: true });
  }
}

async function vmsOnHost(db: Db, hostId: number): Promise<VmOnHost[]> {
  const rows = await db.select({ id: vms.id, state: vms.state }).from(vms).where(and(eq(vms.hostId, hostId), ne(vms.state, "Destroyed")));
  if (rows.length === 0) return [];
  const passthrough = new Set((await db.selectDistinct({ vmId: gpuAllocations.vmId }).from(gpuAllocations)
    .where(and(eq(gpuAllocations.hostId, hostId), inArray(gpuAllocations.mode, ["passthrough", "share"]), inArray(gpuAllocations.vmId, rows.map((r) => r.id)))))
    .map((r) => r.vmId));
  return rows.map((r) => ({ id: r.id, state: r.state as VmState, passthroughGpu: passthrough.has(r.id) }));
}

async function stillActive(db: Db, maintenanceId: number): Promise<boolean> {
  const [m] = await db.select({ endedAt: hostMaintenances.endedAt }).from(hostMaintenances).where(eq(hostMaintenances.id, maintenanceId));
  return Boolean(m && !m.endedAt);
}

async function movedPercent(db: Db, maintenanceId: number): Promise<number> {
  const [m] = await db.select({ vms: hostMaintenances.vms }).from(hostMaintenances).where(eq(hostMaintenances.id, maintenanceId));
  const all = Object.values(m?.vms ?? {});
  return all.length === 0 ? 0 : (100 * all.filter((e) => e.status === "moved" || e.status === "stays").length) / all.length;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done() { clearTimeout(t); signal.removeEventListener("abort", done); resolve(); }
    signal.addEventListener("abort", done, { once: true });
  });
}

/**
 * The maintenance job failed for good (an internal error, not a VM's migration): its host goes to
 * ErrorInMaintenance, from which POST maintenance starts it again, unless it was cancelled or a
 * newer job took over meanwhile.
 */
export async function onMaintenanceJobFailed(db: Db, job: { id: number; input: { maintenance_id?: number } }, changed: () => void): Promise<void> {
  if (job.input.maintenance_id === undefined) return;
  const [m] = await db.select().from(hostMaintenances).where(eq(hostMaintenances.id, job.input.maintenance_id));
  if (!m || m.endedAt || m.jobId !== job.id) return;
  await setResourceState(db, m.hostId, "ErrorInMaintenance");
  changed();
}
