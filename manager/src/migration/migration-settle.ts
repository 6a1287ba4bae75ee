// How a migration ends, each in one transaction with the migration row's new state, so the VM holds
// capacity on exactly one host afterwards whatever happened:
//   - moved: the allocation (and the GPUs, and the root disk's pool when it changed) goes to the
//     destination, the source's GPU rows and the reservation end, vms.host_id is the destination;
//   - abandoned (failed, cancelled): the destination's GPU rows and pool reservation are dropped,
//     the VM keeps its allocation on the source.
// Both bump both hosts' generations (their capacity changed) and do nothing to a migration that is
// no longer running (a second settle after a restart is a no-op).
import { and, eq, inArray, sql } from "drizzle-orm";
import { OrbitError } from "#shared/errors.js";
import { PowerState } from "#shared/protocol.js";
import type { CommandDispatcher } from "../agents/command-dispatcher.js";
import type { Db, Tx } from "../db/database.js";
import { stepCommandId } from "../jobs/job-command-ids.js";
import { allocations, commands, gpuAllocations, hosts, storagePools, vmMigrations, vms, volumeAttachments, volumes } from "../db/schema.js";
import { touchHost } from "../hosts/host-generation.js";
import { releaseRootDisk } from "../storage/root-disks.js";
import type { VmState } from "../vm/vm-state-machine.js";
import { transitionVm } from "../vm/vm-transitions.js";

type Migration = typeof vmMigrations.$inferSelect;

async function lockRunning(tx: Tx, migrationId: number): Promise<Migration | undefined> {
  const [m] = await tx.select().from(vmMigrations).where(eq(vmMigrations.id, migrationId)).for("update");
  if (!m || m.state !== "running") return undefined;
  // Host rows in id order, as placement commits and reserve() lock them (NO KEY UPDATE: a foreign
  // key's check from another transaction's insert does not wait on it).
  await tx.select({ id: hosts.id }).from(hosts).where(inArray(hosts.id, [m.sourceHostId, m.destinationHostId])).orderBy(hosts.id).for("no key update");
  return m;
}

/**
 * The VM is on the destination now: capacity moves there. `to` is its state after (live: Running;
 * cold: Starting when it is to run again, else Stopped). False when the migration was settled already.
 */
export async function settleMoved(
  db: Db, migrationId: number, o: { to: VmState; cause: string; totalMs?: number | undefined; downtimeMs?: number | undefined },
): Promise<boolean> {
  return db.transaction(async (tx) => {
    const m = await lockRunning(tx, migrationId);
    if (!m) return false;
    await tx.delete(gpuAllocations).where(and(eq(gpuAllocations.vmId, m.vmId), eq(gpuAllocations.hostId, m.sourceHostId)));
    // NUMA binding and pinned CPUs were the source's: the destination's domain is not pinned.
    await tx.update(allocations).set({
      hostId: m.destinationHostId, vcpus: m.reservedVcpus, memoryMib: m.reservedMemoryMib, numaNode: -1, pinnedCpus: [],
    }).where(eq(allocations.vmId, m.vmId));
    if (m.destinationPoolId != null) {
      await releaseRootDisk(tx, m.vmId);
      await tx.update(vms).set({ rootDiskPoolId: m.destinationPoolId }).where(eq(vms.id, m.vmId));
    }
    if (m.storageMotion) {
      // Local volumes copied with it now live on the destination.
      await tx.update(volumes).set({ hostId: m.destinationHostId }).where(and(
        eq(volumes.hostId, m.sourceHostId),
        inArray(volumes.id, tx.select({ id: volumeAttachments.volumeId }).from(volumeAttachments).where(eq(volumeAttachments.vmId, m.vmId))),
      ));
    }
    await tx.update(vms).set({ hostId: m.destinationHostId, updatedAt: new Date() }).where(eq(vms.id, m.vmId));
    await tx.update(vmMigrations).set({
      state: "succeeded", finishedAt: new Date(), totalMs: o.totalMs ?? null, downtimeMs: o.downtimeMs ?? null,
    }).where(eq(vmMigrations.id, m.id));
    await transitionVm(tx, m.vmId, o.to, o.cause, { onlyFrom: ["Migrating"], ...(o.to === "Running" ? { powerState: "RUNNING" } : {}) });
    await touchHost(tx, m.sourceHostId);
    await touchHost(tx, m.destinationHostId);
    return true;
  });
}

/**
 * The VM stays on the source: the reservation is dropped and the VM goes back to `to` (Running,
 * or Stopped for a cold move that stopped it). False when the migration was settled already.
 */
export async function settleAbandoned(
  db: Db, migrationId: number, o: { state: "failed" | "cancelled"; error: { code: string; message: string }; to: VmState; cause: string },
): Promise<boolean> {
  return db.transaction(async (tx) => {
    const m = await lockRunning(tx, migrationId);
    if (!m) return false;
    await tx.delete(gpuAllocations).where(and(eq(gpuAllocations.vmId, m.vmId), eq(gpuAllocations.hostId, m.destinationHostId)));
    if (m.destinationPoolId != null && m.reservedDiskGib > 0) {
      await tx.update(storagePools).set({ allocatedGib: sql`greatest(${storagePools.allocatedGib} - ${m.reservedDiskGib}, 0)` })
        .where(eq(storagePools.id, m.destinationPoolId));
    }
    await tx.update(vmMigrations).set({ state: o.state, finishedAt: new Date(), error: o.error }).where(eq(vmMigrations.id, m.id));
    await transitionVm(tx, m.vmId, o.to, o.cause, {
      onlyFrom: ["Migrating"], reason: `migration ${o.state}: ${o.error.message}`,
      ...(o.to === "Running" ? { powerState: "RUNNING" } : o.to === "Stopped" ? { powerState: "SHUTDOWN" } : {}),
    });
    await touchHost(tx, m.sourceHostId);
    await touchHost(tx, m.destinationHostId);
    return true;
  });
}

/**
 * The job runner's `onFailed` hook for vm.migrate jobs that failed without settling (retries used
 * up while a host could not be reached, an unexpected error). When the job never sent MigrateVm
 * (no such command of the job is recorded) the VM never left its source: the reservation is
 * dropped and it is Running there again. Otherwise the hosts are asked where it runs
 * (settleFailedMigration); only when neither answers does the migration stay running with its
 * reservation (nothing double-booked) for an admin (or HA) to settle.
 */
export async function onMigrateJobFailed(
  db: Db, job: { id: number; uuid: string; kind: string }, error: { code: string; message: string },
  dispatcher?: Pick<CommandDispatcher, "run">, log?: { warn(o: object, msg: string): void },
): Promise<void> {
  if (job.kind !== "vm.migrate") return;
  const [m] = await db.select().from(vmMigrations).where(and(eq(vmMigrations.jobId, job.id), eq(vmMigrations.state, "running")));
  if (!m) return;
  const sent = await db.select({ id: commands.id }).from(commands).where(and(eq(commands.jobId, job.id), inArray(commands.kind, ["migrateVm", "stopVm", "destroyVm"])));
  if (sent.length) {
    if (dispatcher) await settleFailedMigration(db, dispatcher, job, error, log);
    return;
  }
  await settleAbandoned(db, m.id, { state: "failed", error: { code: error.code, message: error.message }, to: m.wasRunning ? "Running" : "Stopped", cause: `job ${job.id}: vm.migrate failed before the VM was touched` });
}

/**
 * A vm.migrate job failed for good after it sent the source a command, with its migration still
 * running (an error the job did not expect, e.g. attempts used up on database conflicts): the VM
 * must not stay Migrating with the destination's capacity held. The hosts are asked where the domain is: running on the
 * destination means it moved; running on the source, or stopped there, means it stayed. When
 * neither host answers the migration is left running (it would be a guess), and the log says so.
 */
async function settleFailedMigration(
  db: Db, dispatcher: Pick<CommandDispatcher, "run">, job: { id: number; uuid: string }, error: { code: string; message: string },
  log?: { warn(o: object, msg: string): void },
): Promise<"moved" | "stayed" | "unknown" | "settled"> {
  const [m] = await db.select().from(vmMigrations).where(eq(vmMigrations.jobId, job.id));
  if (!m || m.state !== "running") return "settled";
  const [vm] = await db.select().from(vms).where(eq(vms.id, m.vmId));
  const cause = `job ${job.id}: vm.migrate failed`;
  const failed = { state: "failed" as const, error: { code: error.code, message: error.message }, cause };
  if (!vm || vm.state !== "Migrating") {
    await settleAbandoned(db, m.id, { ...failed, to: "Running" });
    return "stayed";
  }
  const ask = (hostId: number, s: string) => dispatcher.run(hostId, {
    commandId: stepCommandId(job.uuid, s), deadlineMs: Date.now() + 30_000, vmUuid: vm.uuid, body: { $case: "getVmStats", value: {} },
  }, { vmId: vm.id, jobId: job.id, timeoutMs: 30_000 }).then((r) => r.domain ?? null, (e: unknown) => (e instanceof OrbitError && e.code === "not_found" ? null : undefined));
  const running = (d: { powerState: PowerState } | null | undefined) => d != null && d.powerState !== PowerState.POWER_STATE_SHUTOFF;
  if (m.mode === "live") {
    const there = await ask(m.destinationHostId, "failed-locate-destination");
    if (running(there)) {
      await settleMoved(db, m.id, { to: "Running", cause: `${cause}, but the VM runs on its destination` });
      return "moved";
    }
    const here = await ask(m.sourceHostId, "failed-locate-source");
    if (there !== undefined && here !== undefined) {
      await settleAbandoned(db, m.id, { ...failed, to: running(here) ? "Running" : "Stopped" });
      return "stayed";
    }
  } else {
    // Cold: the VM was never started on the destination before the move was settled.
    const here = await ask(m.sourceHostId, "failed-locate-source");
    if (here !== undefined) {
      await settleAbandoned(db, m.id, { ...failed, to: running(here) ? "Running" : "Stopped" });
      return "stayed";
    }
  }
  log?.warn({ vmId: vm.id, migrationId: m.id, jobId: job.id }, "migration job failed and the hosts did not say where the VM is: it stays Migrating until an admin looks");
  return "unknown";
}
