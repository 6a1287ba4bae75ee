// Destroy: the agent powers the domain off and undefines it (with the disks the VM owns), then
// the VM is Destroyed, its capacity released and its volumes detached in the same transaction.
import { eq } from "drizzle-orm";
import { OrbitError } from "#shared/errors.js";
import type { CommandDispatcher } from "../agents/command-dispatcher.js";
import type { Db } from "../db/database.js";
import { hosts, vms, type HostState } from "../db/schema.js";
import { rememberStaleCopy } from "../ha/stale-copies.js";
import { releaseVmVolumes } from "../storage/volume-disks.js";
import { transitionVm } from "../vm/vm-transitions.js";
import { forgetVmSnapshots } from "../vm/vm-snapshots.js";
import type { SettingsRegistry } from "../settings/settings-registry.js";
import type { JobHandler, JobRow } from "./job-runner.js";

/** How long the agent may take to power off and undefine the domain (settings-registry.ts). */
export const VM_DESTROY_TIMEOUT_SETTING = "vm.destroy.timeout.ms";

/**
 * Whether the delete asked for the VM's volumes too: CloudSigma's recurse (`all_drives` or
 * `disks`), which the delete route records in the job's input (`jobs.input.recurse`).
 */
export function deletesVolumes(job: Pick<JobRow, "input">): boolean {
  const recurse = job.input?.recurse;
  return recurse === "all_drives" || recurse === "disks";
}

/** Host states in which a delete does not wait for the host. */
const LOST_HOST_STATES: readonly HostState[] = ["Suspect", "Alert", "Down"];

export function vmDestroyJob(
  db: Db, dispatcher: CommandDispatcher, settings: Pick<SettingsRegistry, "number">, jobsQueue?: { enqueue(jobId: number): void },
): JobHandler {
  return async ({ job }) => {
    if (job.vmId == null) throw new OrbitError("internal", "destroy job without a VM");
    const [vm] = await db.select().from(vms).where(eq(vms.id, job.vmId));
    if (!vm) throw new OrbitError("internal", `VM ${job.vmId} vanished`);
    if (vm.state === "Destroyed") return { already: true };
    // HA: a VM whose host is lost (Suspect, Alert, Down) is deleted without it; the host destroys
    // its copy (with the disks the VM owns) when it is back (ha/stale-copies.ts).
    const [host] = vm.hostId != null ? await db.select({ state: hosts.state }).from(hosts).where(eq(hosts.id, vm.hostId)) : [];
    const hostLost = host !== undefined && LOST_HOST_STATES.includes(host.state);
    if (vm.hostId != null && !hostLost) {
      const timeoutMs = settings.number(VM_DESTROY_TIMEOUT_SETTING);
      await dispatcher.run(vm.hostId, {
        commandId: job.uuid,
        deadlineMs: Date.now() + timeoutMs,
        vmUuid: vm.uuid,
        body: { $case: "destroyVm", value: { removeOwnedDisks: true } },
      }, { vmId: vm.id, jobId: job.id, timeoutMs });
    }
    const volumeJobs = await db.transaction(async (tx) => {
      if (hostLost) {
        await rememberStaleCopy(tx, vm.hostId!, vm, "the VM was deleted while its host was lost", true);
        await transitionVm(tx, vm.id, "Destroyed", `deleted without its host (host ${host.state}): the host destroys its copy when it is back`, { powerState: "NOSTATE" });
      } else {
        await transitionVm(tx, vm.id, "Destroyed", "agent destroyed the domain", { powerState: "NOSTATE" });
      }
      // The host removed its snapshots with the domain (they live in its disks).
      await forgetVmSnapshots(tx, vm.id);
      // Volumes are not the VM's: detached (available again) unless the delete asked for them too.
      return releaseVmVolumes(tx, vm.id, deletesVolumes(job));
    });
    for (const id of volumeJobs) jobsQueue?.enqueue(id);
    return {};
  };
}
