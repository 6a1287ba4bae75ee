// What a VM job that failed for good leaves behind: its VM goes to Error and, depending on what
// the host may still run, its capacity is released or kept. Commands the job left open are closed.
import type { CommandDispatcher } from "../agents/command-dispatcher.js";
import type { Db } from "../db/database.js";
import { transitionVm } from "../vm/vm-transitions.js";
import type { JobRow, JobRunnerOptions } from "./job-runner.js";

export interface JobFailure { code: string; message: string; retryable: boolean }

/**
 * A host that said no (a deploy's or a clone's start or copy refused: not retryable) used nothing: release. A host
 * that never answered, or a destroy that did not finish, may still run the domain: keep its
 * capacity until a delete succeeds, so the allocator cannot hand the same GPU to another VM.
 */
export function releasesCapacity(jobKind: string, error: JobFailure): boolean {
  return (jobKind === "vm.deploy" || jobKind.startsWith("vm.clone")) && !error.retryable;
}

/** The job runner's `onFailed` hook for VM jobs. */
export function onVmJobFailed(db: Db, dispatcher: Pick<CommandDispatcher, "closeAbandoned">): NonNullable<JobRunnerOptions["onFailed"]> {
  return async (job: JobRow, error: JobFailure) => {
    if (job.vmId == null) return;
    const vmId = job.vmId;
    // A firewall or cdrom media that could not be changed leaves the VM as it was (running, with its former rules or media).
    // A snapshot job's failure is the snapshot's (jobs/vm-snapshot.job.ts): the VM is left as the host reports it.
    if (job.kind === "vm.firewall" || job.kind === "vm.iso" || job.kind.startsWith("vm.snapshot.")) {
      await dispatcher.closeAbandoned(`job ${job.id} (${job.kind}) failed: ${error.message}`, { jobId: job.id });
      return;
    }
    const released = releasesCapacity(job.kind, error);
    await db.transaction((tx) => transitionVm(tx, vmId, "Error", `job ${job.id} (${job.kind}) failed`, {
      reason: `${job.kind} failed: ${error.message}${released ? "" : " (capacity kept until the VM is deleted: the host's state is unknown)"}`,
      onlyFrom: ["Creating", "Starting", "Destroying", "Stopping", "Hibernating", "Reinstalling"],
      keepCapacity: !released,
    }));
    await dispatcher.closeAbandoned(`job ${job.id} (${job.kind}) failed: ${error.message}`, { jobId: job.id });
  };
}
