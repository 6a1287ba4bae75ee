// Writes callback deliveries into the outbox, in the caller's transaction: a state change and
// the callback announcing it commit together or not at all. Nothing is written for a VM or a
// volume without a callback URL. An event id is delivered once (a job step run again adds nothing).
import { eq } from "drizzle-orm";
import type { Db, Tx } from "../db/database.js";
import { callbackDeliveries, hosts, vms } from "../db/schema.js";
import type { VolumeEvent } from "../events/volume-event.js";
import type { JobHandler, JobRunnerOptions } from "../jobs/job-runner.js";
import { actionEvent, withoutHostName, type VmEvent, type VmRef } from "../events/vm-event.js";
import { callbackBody, volumeCallbackBody } from "../api/hyperstack/callback.presenter.js";

/** Queues the event `build` makes for the VM when the VM has a callback URL; returns whether it did. */
export async function enqueueVmCallback(tx: Tx | Db, vmId: number, build: (vm: VmRef) => VmEvent): Promise<boolean> {
  const [vm] = await tx.select({ id: vms.id, uuid: vms.uuid, name: vms.name, accountId: vms.accountId, url: vms.callbackUrl, hostName: hosts.name })
    .from(vms).leftJoin(hosts, eq(hosts.id, vms.hostId)).where(eq(vms.id, vmId));
  if (!vm || vm.url === "") return false;
  // Receivers are users: they see their VM, not the fleet.
  const event = withoutHostName(build(vm), vm.hostName);
  const now = new Date();
  const inserted = await tx.insert(callbackDeliveries).values({
    eventId: event.id, eventType: event.type, accountId: vm.accountId, vmId: vm.id, url: vm.url,
    body: JSON.stringify(callbackBody(event)), createdAt: now, nextAttemptAt: now,
  }).onConflictDoNothing({ target: callbackDeliveries.eventId }).returning({ id: callbackDeliveries.id });
  return inserted.length > 0;
}

/** Queues a volume's event when it has a callback URL (`url`, read by the caller with the volume). */
export async function enqueueVolumeCallback(tx: Tx | Db, url: string, event: VolumeEvent): Promise<boolean> {
  if (url === "") return false;
  const now = new Date();
  const inserted = await tx.insert(callbackDeliveries).values({
    eventId: event.id, eventType: event.type, accountId: event.volume.accountId, volumeId: event.volume.id, url,
    body: JSON.stringify(volumeCallbackBody(event)), createdAt: now, nextAttemptAt: now,
  }).onConflictDoNothing({ target: callbackDeliveries.eventId }).returning({ id: callbackDeliveries.id });
  return inserted.length > 0;
}

/**
 * A VM job handler that also announces its action: requested when it starts, succeeded when
 * the handler returns. The job runner's status update is not in a transaction this can join, so
 * these are written just before it; a step run again (restart) finds its event already queued.
 */
export function withActionCallbacks(db: Db, handler: JobHandler): JobHandler {
  return async (ctx) => {
    const vmId = ctx.job.vmId;
    // Not read again when the job's claim just found the VM without a callback URL.
    if (vmId != null && ctx.vmCallbackUrl !== "") await enqueueVmCallback(db, vmId, (vm) => actionEvent(vm, ctx.job, "requested"));
    const result = await handler(ctx);
    if (vmId != null) await enqueueVmCallback(db, vmId, (vm) => actionEvent(vm, ctx.job, "succeeded", new Date()));
    return result;
  };
}

/** The job runner's onFailed hook, followed by the action_failed callback. */
export function withActionFailedCallback(db: Db, onFailed: NonNullable<JobRunnerOptions["onFailed"]>): NonNullable<JobRunnerOptions["onFailed"]> {
  return async (job, error) => {
    await onFailed(job, error);
    if (job.vmId != null) {
      await enqueueVmCallback(db, job.vmId, (vm) => actionEvent(vm, { ...job, error }, "failed", new Date()));
    }
  };
}
