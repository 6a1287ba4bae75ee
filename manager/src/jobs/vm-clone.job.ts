// Clone: the new VM (Creating, placed on its source's host) gets a full copy of the source's root
// disk (the agent refuses when the source runs: its disk cannot be copied consistently), then it
// starts (vm.clone-and-start) or is left Stopped (vm.clone). Each step has its own command id.
import { eq } from "drizzle-orm";
import { OrbitError } from "#shared/errors.js";
import { PowerState } from "#shared/protocol.js";
import type { CommandDispatcher } from "../agents/command-dispatcher.js";
import type { Db } from "../db/database.js";
import { images, vms } from "../db/schema.js";
import type { SettingsRegistry } from "../settings/settings-registry.js";
import { transitionVm } from "../vm/vm-transitions.js";
import { stepCommandId } from "./job-command-ids.js";
import type { JobHandler } from "./job-runner.js";
import { startSpec } from "./vm-power.job.js";
import type { HeadroomSettings } from "./start-headroom.js";
import { rootDiskSpec } from "./vm-spec.js";

export const VM_CLONE_JOB_KINDS = ["vm.clone", "vm.clone-and-start"] as const;
export type VmCloneJobKind = (typeof VM_CLONE_JOB_KINDS)[number];

type Dispatcher = Pick<CommandDispatcher, "run" | "prepareDisk">;

export function vmCloneJob(kind: VmCloneJobKind, db: Db, dispatcher: Dispatcher, settings: Pick<SettingsRegistry, "number"> & HeadroomSettings): JobHandler {
  return async ({ job, progress }) => {
    if (job.vmId == null) throw new OrbitError("internal", `${kind} job without a VM`);
    const [vm] = await db.select().from(vms).where(eq(vms.id, job.vmId));
    if (!vm) throw new OrbitError("internal", `VM ${job.vmId} vanished`);
    // Deleted (or failed) while the job waited: nothing to clone any more.
    if (vm.state !== "Creating") return { skipped: `VM is ${vm.state}` };
    if (vm.hostId == null || vm.clonedFromVmId == null) throw new OrbitError("internal", `VM ${vm.id} has no host or no source to clone`);
    const [source] = await db.select({ uuid: vms.uuid }).from(vms).where(eq(vms.id, vm.clonedFromVmId));
    const [image] = await db.select().from(images).where(eq(images.id, vm.imageId));
    if (!source || !image) throw new OrbitError("internal", `VM ${vm.id}'s source or image vanished`);
    const timeoutMs = settings.number("vm.deploy.timeout.ms");
    // An image without a file (the simulator's) gives VMs no disk of their own: nothing to copy.
    if (image.path) {
      await dispatcher.prepareDisk({
        hostId: vm.hostId, vmUuid: vm.uuid, vmId: vm.id, jobId: job.id, commandId: stepCommandId(job.uuid, "disk"), timeoutMs,
      }, rootDiskSpec(image, source.uuid), { replace: false });
    }
    await progress(50);
    if (kind === "vm.clone") {
      await db.transaction((tx) => transitionVm(tx, vm.id, "Stopped", `job ${job.id}: ${kind}`, {
        onlyFrom: ["Creating"], reason: `cloned from virtual machine ${vm.clonedFromVmId}`, powerState: "SHUTDOWN",
      }));
      return { host_id: vm.hostId, cloned_from: vm.clonedFromVmId };
    }
    await db.transaction((tx) => transitionVm(tx, vm.id, "Starting", `job ${job.id}: ${kind}`, { onlyFrom: ["Creating"] }));
    const result = await dispatcher.run(vm.hostId, {
      commandId: stepCommandId(job.uuid, "start"), deadlineMs: Date.now() + timeoutMs, vmUuid: vm.uuid,
      body: { $case: "startVm", value: { spec: await startSpec(db, vm, settings) } },
    }, { vmId: vm.id, jobId: job.id, timeoutMs });
    if (result.domain?.powerState !== PowerState.POWER_STATE_RUNNING) {
      throw new OrbitError("hypervisor_error", `agent started the clone but reports it ${PowerState[result.domain?.powerState ?? 0]}`);
    }
    await db.transaction((tx) => transitionVm(tx, vm.id, "Running", "agent reported the domain running", { onlyFrom: ["Starting"], powerState: "RUNNING" }));
    return { host_id: vm.hostId, cloned_from: vm.clonedFromVmId };
  };
}
