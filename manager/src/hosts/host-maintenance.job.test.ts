// The host.maintenance job against a real database, with a fake migration service: which VMs it
// moves and how, what blocks it, failures, cancel, and a resume after the manager stopped.
import { randomUUID } from "node:crypto";
import { eq, sql } from "drizzle-orm";
import pino from "pino";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { ConflictError, type OrbitError } from "#shared/errors.js";
import { openTestDatabase, type Database } from "../db/database.js";
import { gpuAllocations, gpus, hostMaintenances, hosts, jobs, vmMigrations, vms } from "../db/schema.js";
import { seedFleet, sqlRows, type FixtureIds } from "../placement/testing/placement-fixture.js";
import type { JobResult, JobRow } from "../jobs/job-runner.js";
import { HostAdmin } from "../placement/host-admin.js";
import { HostMaintenance } from "./host-maintenance.js";
import { hostMaintenanceJob, onMaintenanceJobFailed } from "./host-maintenance.job.js";
import { PASSTHROUGH_BLOCK_REASON } from "./maintenance-plan.js";
import type { MoveOptions, VmMover } from "./vm-mover.js";

let database: Database;
let ids: FixtureIds;
let source: number;
let destination: number;
beforeAll(async () => {
  database = await openTestDatabase();
  ids = await seedFleet(database.db, { hosts: 2, cpus: 16, memoryMib: 32768, reserveMib: 0, gpuHosts: ["h1"], gpusPerHost: 1 });
  const rows = await sqlRows<{ id: number; name: string }>(database.db, sql`select id, name from hosts order by name`);
  source = rows[0]!.id;
  destination = rows[1]!.id;
});
afterAll(async () => { await database?.close(); });

const db = () => database.db;
const actor = () => ({ accountId: ids.accountId, userId: null });

beforeEach(async () => {
  // Each test starts from an Enabled source with no VM and no maintenance.
  await db().delete(gpuAllocations);
  await db().update(vms).set({ state: "Destroyed", hostId: null });
  await db().update(hostMaintenances).set({ endedAt: new Date(), endedBy: "cancelled" }).where(sql`ended_at is null`);
  await db().update(hosts).set({ resourceState: "Enabled" });
});

async function vmIn(state: string, opts: { passthrough?: boolean } = {}): Promise<number> {
  const [vm] = await db().insert(vms).values({
    uuid: randomUUID(), name: "m", accountId: ids.accountId, environmentId: ids.envId, flavorId: ids.flavorId, imageId: ids.imageId,
    state, vcpus: 1, memoryMib: 1, hostId: source,
  }).returning({ id: vms.id });
  if (opts.passthrough) {
    const [gpu] = await db().select({ id: gpus.id }).from(gpus).where(eq(gpus.hostId, source));
    await db().insert(gpuAllocations).values({ vmId: vm!.id, hostId: source, gpuId: gpu!.id, mode: "passthrough" });
  }
  return vm!.id;
}

/** A fake migration service: each migrate starts a running job the test settles; refusals by VM. */
class FakeMover implements VmMover {
  calls: { vmId: number; options: MoveOptions }[] = [];
  refuse = new Map<number, OrbitError>();
  async migrate(_actor: unknown, vmId: number, options: MoveOptions) {
    const refusal = this.refuse.get(vmId);
    if (refusal) {
      this.calls.push({ vmId, options });
      throw refusal;
    }
    const [job] = await db().insert(jobs).values({ uuid: randomUUID(), kind: "vm.migrate", vmId, accountId: ids.accountId, status: "running", progress: 40 }).returning({ id: jobs.id });
    await db().update(vms).set({ state: "Migrating" }).where(eq(vms.id, vmId));
    const [migration] = await db().insert(vmMigrations).values({
      vmId, jobId: job!.id, sourceHostId: source, destinationHostId: destination, mode: options.mode === "cold" ? "cold" : "live", reservedVcpus: 1, reservedMemoryMib: 1,
      progress: { at: new Date().toISOString(), elapsedMs: 900, dataProcessedBytes: 300, dataRemainingBytes: 700, dataTotalBytes: 1000, dirtyRatePagesPerSec: 12, memoryBandwidthBps: 1, expectedDowntimeMs: 150, iteration: 2 },
    }).returning({ id: vmMigrations.id });
    // Recorded once its job exists: a test that saw the call may settle it.
    this.calls.push({ vmId, options });
    return { jobId: job!.id, migrationId: migration!.id, destinationHostId: destination };
  }
  /** Ends the VM's migration: on the destination, or failed and running on the source. */
  async finish(vmId: number, ok: boolean) {
    const [j] = await db().select({ id: jobs.id }).from(jobs).where(sql`${jobs.vmId} = ${vmId} and ${jobs.kind} = 'vm.migrate' and ${jobs.status} = 'running'`);
    await db().update(vmMigrations).set({ state: ok ? "succeeded" : "failed" }).where(eq(vmMigrations.jobId, j!.id));
    if (ok) {
      await db().update(vms).set({ state: "Running", hostId: destination }).where(eq(vms.id, vmId));
      await db().update(jobs).set({ status: "succeeded", progress: 100 }).where(eq(jobs.id, j!.id));
    } else {
      await db().update(vms).set({ state: "Running" }).where(eq(vms.id, vmId));
      await db().update(jobs).set({ status: "failed", error: { code: "hypervisor_error", message: "migration aborted: destination unreachable", retryable: false } }).where(eq(jobs.id, j!.id));
    }
  }
}

/** Starts the maintenance and runs its job in the background (as the runner would). */
async function startMaintenance(mover: VmMover, allowColdMigration = false, signal = new AbortController().signal) {
  let jobId = 0;
  const service = new HostMaintenance(db(), { enqueue: (id) => { jobId = id; } }, () => {});
  await service.start(source, actor(), { allowColdMigration });
  const [job] = await db().select().from(jobs).where(eq(jobs.id, jobId));
  const run = hostMaintenanceJob({ db: db(), mover, changed: () => {}, pollMs: 10 })({
    job: job as JobRow, attempt: 1, log: pino({ level: "silent" }), progress: async () => {}, signal,
  }) as Promise<JobResult>;
  return { service, run, jobId };
}

async function until<T>(what: string, fn: () => Promise<T | undefined | false>, ms = 5000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const resourceState = async () => (await db().select({ s: hosts.resourceState }).from(hosts).where(eq(hosts.id, source)))[0]!.s;
const entry = async (service: HostMaintenance, vmId: number) => (await service.status(source)).vms.find((v) => v.vm_id === vmId);

describe("host.maintenance job", () => {
  it("an empty host is in Maintenance at once; it took no placement from the start", async () => {
    const { run } = await startMaintenance(new FakeMover());
    expect(await run).toEqual({ resource_state: "Maintenance" });
    expect(await resourceState()).toBe("Maintenance");
  });

  it("running VMs are live-migrated (target auto), shown migrating with the job's progress, then moved: Maintenance", async () => {
    const a = await vmIn("Running");
    const b = await vmIn("Running");
    const mover = new FakeMover();
    const { service, run } = await startMaintenance(mover);
    expect(await resourceState()).toBe("PrepareForMaintenance");
    await until("both migrating", async () => mover.calls.length === 2);
    expect(mover.calls.map((c) => c.options)).toEqual([{ target: "auto", mode: "live", allowCold: false }, { target: "auto", mode: "live", allowCold: false }]);
    const e = await until("entry migrating", async () => { const x = await entry(service, a); return x?.status === "migrating" ? x : undefined; });
    expect(e).toMatchObject({
      status: "migrating", progress: 40, destination_host_id: destination, mode: "live",
      migrationProgress: { dataProcessedBytes: 300, dataRemainingBytes: 700, expectedDowntimeMs: 150 },
    });
    await mover.finish(a, true);
    await mover.finish(b, true);
    expect(await run).toEqual({ resource_state: "Maintenance" });
    const status = await service.status(source);
    expect(status).toMatchObject({ resourceState: "Maintenance", counts: { total: 2, moved: 2, remaining: 0 } });
  });

  it("a passthrough GPU VM blocks the maintenance (with why) until cancelled; nothing is asked of the mover for it", async () => {
    const vm = await vmIn("Running", { passthrough: true });
    const mover = new FakeMover();
    const { service, run } = await startMaintenance(mover);
    const e = await until("blocked", async () => { const x = await entry(service, vm); return x?.status === "blocked" ? x : undefined; });
    expect(e.reason).toBe(PASSTHROUGH_BLOCK_REASON);
    expect(await resourceState()).toBe("PrepareForMaintenance");
    expect(mover.calls).toEqual([]);
    const cancelled = await service.cancel(source);
    expect(cancelled).toEqual({ hostId: source, resourceState: "Enabled", stillMigrating: [] });
    expect(await run).toEqual({ skipped: "maintenance cancelled" });
    expect(await resourceState()).toBe("Enabled");
  });

  it("with allow_cold_migration a passthrough GPU VM is moved cold", async () => {
    const vm = await vmIn("Running", { passthrough: true });
    const mover = new FakeMover();
    const { run } = await startMaintenance(mover, true);
    await until("migrate asked", async () => mover.calls.length === 1);
    expect(mover.calls[0]).toEqual({ vmId: vm, options: { target: "auto", mode: "cold", allowCold: true } });
    await mover.finish(vm, true);
    expect(await run).toEqual({ resource_state: "Maintenance" });
  });

  it("a failed migration: ErrorInMaintenance with its error while the others carry on; POST again retries it", async () => {
    const bad = await vmIn("Running");
    const good = await vmIn("Running");
    const mover = new FakeMover();
    const { service, run } = await startMaintenance(mover);
    await until("both migrating", async () => mover.calls.length === 2);
    await mover.finish(bad, false);
    await until("ErrorInMaintenance", async () => (await resourceState()) === "ErrorInMaintenance");
    expect(await entry(service, good)).toMatchObject({ status: "migrating" });
    await mover.finish(good, true);
    expect(await run).toEqual({ resource_state: "ErrorInMaintenance" });
    const status = await service.status(source);
    expect(status.vms).toEqual([
      expect.objectContaining({ vm_id: bad, status: "failed", error: "migration aborted: destination unreachable" }),
      expect.objectContaining({ vm_id: good, status: "moved" }),
    ]);
    // Again from ErrorInMaintenance: the failed VM is tried anew.
    const again = await startMaintenance(mover);
    await until("retried", async () => mover.calls.filter((c) => c.vmId === bad).length === 2);
    await mover.finish(bad, true);
    expect(await again.run).toEqual({ resource_state: "Maintenance" });
  });

  it("a VM on local disks refused a plain live move is asked again with storage motion", async () => {
    const vm = await vmIn("Running");
    const mover = new FakeMover();
    const local = new ConflictError("the VM's disks are local to its host", undefined, { reason: "local_storage" });
    const plain = mover.migrate.bind(mover);
    mover.migrate = async (actor, vmId, options) => {
      if (!options.storageMotion) { mover.calls.push({ vmId, options }); throw local; }
      return plain(actor, vmId, options);
    };
    const { run } = await startMaintenance(mover);
    await until("moved with storage motion", async () => mover.calls.length === 2);
    expect(mover.calls.map((c) => c.options)).toEqual([
      { target: "auto", mode: "live", allowCold: false },
      { target: "auto", mode: "live", allowCold: false, storageMotion: true },
    ]);
    await mover.finish(vm, true);
    expect(await run).toEqual({ resource_state: "Maintenance" });
  });

  it("a stopped VM the service refuses stays, stopped, and does not keep the host from Maintenance; a starting VM is waited for", async () => {
    const stopped = await vmIn("Stopped");
    const starting = await vmIn("Starting");
    const mover = new FakeMover();
    mover.refuse.set(stopped, new ConflictError("its disk is on local storage", "Stopped", { reason: "local_storage" }));
    const { service, run } = await startMaintenance(mover);
    const waiting = await until("starting queued", async () => { const x = await entry(service, starting); return x?.status === "queued" ? x : undefined; });
    expect(waiting.reason).toBe("waiting for the VM to leave Starting");
    expect(await entry(service, stopped)).toMatchObject({ status: "stays", reason: "stays stopped on this host: its disk is on local storage" });
    await db().update(vms).set({ state: "Running" }).where(eq(vms.id, starting));
    await until("started VM migrating", async () => mover.calls.some((c) => c.vmId === starting));
    await mover.finish(starting, true);
    expect(await run).toEqual({ resource_state: "Maintenance" });
    expect(mover.calls.filter((c) => c.vmId === stopped)).toEqual([{ vmId: stopped, options: { target: "auto", mode: "cold", allowCold: true } }]);
  });

  it("resumes after the manager stopped: the job re-reads the record and does not migrate a VM twice", async () => {
    const vm = await vmIn("Running");
    const mover = new FakeMover();
    const stopping = new AbortController();
    const { run, jobId } = await startMaintenance(mover, false, stopping.signal);
    await until("migrating", async () => mover.calls.length === 1);
    stopping.abort();
    await expect(run).rejects.toMatchObject({ retryable: true });
    // The next manager runs the same job from its row.
    const [job] = await db().select().from(jobs).where(eq(jobs.id, jobId));
    const resumed = hostMaintenanceJob({ db: db(), mover, changed: () => {}, pollMs: 10 })({
      job: job as JobRow, attempt: 2, log: pino({ level: "silent" }), progress: async () => {}, signal: new AbortController().signal,
    });
    await mover.finish(vm, true);
    expect(await resumed).toEqual({ resource_state: "Maintenance" });
    expect(mover.calls).toHaveLength(1);
  });
});

describe("a maintenance job that fails for good", () => {
  it("leaves its host ErrorInMaintenance (POST again restarts it); a superseded or cancelled job changes nothing", async () => {
    let jobId = 0;
    const service = new HostMaintenance(db(), { enqueue: (id) => { jobId = id; } }, () => {});
    await service.start(source, actor(), { allowColdMigration: false });
    const [job] = await db().select().from(jobs).where(eq(jobs.id, jobId));
    await onMaintenanceJobFailed(db(), { id: job!.id + 1000, input: job!.input }, () => {});
    expect(await resourceState()).toBe("PrepareForMaintenance");
    await onMaintenanceJobFailed(db(), job!, () => {});
    expect(await resourceState()).toBe("ErrorInMaintenance");
    await service.start(source, actor(), { allowColdMigration: false });
    expect(await resourceState()).toBe("PrepareForMaintenance");
    await service.cancel(source);
    await onMaintenanceJobFailed(db(), { id: jobId, input: job!.input }, () => {});
    expect(await resourceState()).toBe("Enabled");
  });
});

describe("resource state rules", () => {
  it("maintenance starts from Enabled, Disabled or ErrorInMaintenance only; PUT cannot set or leave the maintenance states", async () => {
    const service = new HostMaintenance(db(), { enqueue: () => {} }, () => {});
    const admin = new HostAdmin(db(), {} as never, () => {});
    await expect(admin.setResourceState(source, "Maintenance")).rejects.toThrow(/not set directly: POST \/v1\/admin\/hosts\/\d+\/maintenance/);
    await admin.setResourceState(source, "Disabled");
    await service.start(source, actor(), { allowColdMigration: false });
    await expect(service.start(source, actor(), { allowColdMigration: false })).rejects.toMatchObject({ code: "conflict", details: { state: "PrepareForMaintenance" } });
    await expect(admin.setResourceState(source, "Enabled")).rejects.toThrow(/is PrepareForMaintenance: cancel its maintenance first/);
    await service.cancel(source);
    await expect(service.cancel(source)).rejects.toMatchObject({ code: "conflict", details: { state: "Enabled" } });
    await expect(service.status(source)).rejects.toMatchObject({ code: "conflict", details: { state: "Enabled" } });
    await expect(service.start(99999, actor(), { allowColdMigration: false })).rejects.toMatchObject({ code: "not_found" });
  });
});
