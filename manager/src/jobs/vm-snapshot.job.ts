// The VM snapshot jobs, queued by vm/vm-snapshots.ts with the snapshot already Creating,
// Reverting or Deleting (which keeps the VM's other snapshot operations out meanwhile):
// - vm.snapshot.create: CreateSnapshot on the VM's host, bounded by `vmsnapshot.create.wait`
//   (the agent aborts a slower one and removes what it made); Ready with its size, the VM's current
//   one, its storage pool count settled to what the agent measured (storage/snapshot-pool-use.ts).
// - vm.snapshot.revert: RevertSnapshot; the VM is Running after a memory snapshot, Stopped after
//   another (one taken without memory of a running VM is reverted to its disks only).
// - vm.snapshot.delete: DeleteSnapshot, then the row goes (its children hang off its parent) and
//   its pool count is given back.
// A job that fails for good (onSnapshotJobFailed): a create's snapshot is Error (nothing of it on
// the host: the agent removed it, so its pool count is given back; deleting it again is allowed), a revert's is Ready again (the
// VM as its host reports it: the reconciler settles it), a delete's is Error (delete again).
import { and, eq } from "drizzle-orm";
import { OrbitError } from "#shared/errors.js";
import { PowerState } from "#shared/protocol.js";
import type { CommandDispatcher, VmCommandTarget } from "../agents/command-dispatcher.js";
import type { Db } from "../db/database.js";
import { vms, vmSnapshots } from "../db/schema.js";
import type { SettingsRegistry } from "../settings/settings-registry.js";
import { transitionVm } from "../vm/vm-transitions.js";
import { makeCurrent, type VmSnapshotJobKind } from "../vm/vm-snapshots.js";
import { measuredSnapshotGib, releaseSnapshotUse, settleSnapshotUse } from "../storage/snapshot-pool-use.js";
import type { JobHandler, JobResult, JobRow } from "./job-runner.js";

type Dispatcher = Pick<CommandDispatcher, "createSnapshot" | "revertSnapshot" | "deleteSnapshot">;

/** What the dispatcher waits beyond the agent's own snapshot deadline for its answer. */
const ANSWER_MARGIN_MS = 30_000;

export function vmSnapshotJob(kind: VmSnapshotJobKind, db: Db, dispatcher: Dispatcher, settings: Pick<SettingsRegistry, "number">): JobHandler {
  return async ({ job }): Promise<JobResult> => {
    const snapshotId = job.input?.snapshot_id;
    if (job.vmId == null || snapshotId == null) throw new OrbitError("internal", `${kind} job ${job.id} without a VM or snapshot`);
    const [vm] = await db.select().from(vms).where(eq(vms.id, job.vmId));
    const [snap] = await db.select().from(vmSnapshots).where(eq(vmSnapshots.id, snapshotId));
    if (!vm || vm.state === "Destroyed" || !snap) return { skipped: "the VM or the snapshot is gone" };
    if (vm.hostId == null) throw new OrbitError("conflict", `virtual machine ${vm.id} is on no host: it has no snapshots there`);
    const target: VmCommandTarget = { hostId: vm.hostId, vmUuid: vm.uuid, vmId: vm.id, jobId: job.id, commandId: job.uuid, timeoutMs: settings.number("vm.deploy.timeout.ms") };
    switch (kind) {
      case "vm.snapshot.create": {
        const waitMs = settings.number("vmsnapshot.create.wait") * 1000;
        const { snapshot } = await dispatcher.createSnapshot({ ...target, timeoutMs: waitMs + ANSWER_MARGIN_MS }, {
          name: snap.hostName, description: snap.description, memory: snap.memory, quiesce: snap.quiesce, snapshotTimeoutMs: waitMs,
        });
        // What it takes in its disks: their growth across the create (a retried create's answer has none: its saved memory).
        const measuredGib = measuredSnapshotGib(snapshot);
        const pool = await db.transaction(async (tx) => {
          await tx.update(vmSnapshots).set({ state: "Ready", sizeBytes: snapshot.sizeBytes, updatedAt: new Date() }).where(eq(vmSnapshots.id, snap.id));
          await makeCurrent(tx, vm.id, snap.id);
          return settleSnapshotUse(tx, snap.id, measuredGib);
        });
        return {
          snapshot_id: snap.id, size_bytes: snapshot.sizeBytes, created_bytes: snapshot.createdBytes,
          ...(pool ? { pool_gib: pool.countedGib } : {}),
          // Measured more than its pool had left: counted up to the capacity (the snapshot exists all the same).
          ...(pool && pool.countedGib < measuredGib ? { pool_full: `measured ${measuredGib} GiB, counted ${pool.countedGib} GiB: the storage pool is at capacity` } : {}),
        };
      }
      case "vm.snapshot.revert": {
        const domain = await dispatcher.revertSnapshot(target, snap.hostName, { shutOff: !snap.memory });
        const running = domain.powerState === PowerState.POWER_STATE_RUNNING;
        await db.transaction(async (tx) => {
          await transitionVm(tx, vm.id, running ? "Running" : "Stopped", `job ${job.id}: reverted to snapshot ${snap.id}`, {
            reason: `reverted to snapshot ${snap.id} (${snap.name})`, powerState: running ? "RUNNING" : "SHUTDOWN", onlyFrom: ["Running", "Stopped"],
          });
          await tx.update(vmSnapshots).set({ state: "Ready", updatedAt: new Date() }).where(eq(vmSnapshots.id, snap.id));
          await makeCurrent(tx, vm.id, snap.id);
        });
        return { snapshot_id: snap.id, vm_state: running ? "Running" : "Stopped" };
      }
      case "vm.snapshot.delete": {
        await dispatcher.deleteSnapshot(target, snap.hostName);
        await db.transaction(async (tx) => {
          await tx.update(vmSnapshots).set({ parentId: snap.parentId }).where(eq(vmSnapshots.parentId, snap.id));
          await releaseSnapshotUse(tx, snap.id);
          await tx.delete(vmSnapshots).where(eq(vmSnapshots.id, snap.id));
          if (snap.current) await makeCurrent(tx, vm.id, snap.parentId);
        });
        return { snapshot_id: snap.id };
      }
    }
  };
}

/** The job runner's `onFailed` hook for snapshot jobs (see the top of this file). */
export async function onSnapshotJobFailed(db: Db, job: JobRow, error: { message: string }): Promise<void> {
  const snapshotId = job.input?.snapshot_id;
  if (!job.kind.startsWith("vm.snapshot.") || snapshotId == null) return;
  const failed = job.kind === "vm.snapshot.revert" ? { state: "Ready" as const } : { state: "Error" as const };
  await db.transaction(async (tx) => {
    const [row] = await tx.update(vmSnapshots).set({ ...failed, error: `${job.kind} failed: ${error.message}`, updatedAt: new Date() })
      .where(and(eq(vmSnapshots.id, snapshotId), eq(vmSnapshots.vmId, job.vmId ?? 0))).returning({ id: vmSnapshots.id });
    // A failed create left nothing on the host: its reservation goes. A failed delete's snapshot may still be there: still counted.
    if (row && job.kind === "vm.snapshot.create") await releaseSnapshotUse(tx, row.id);
  });
}
