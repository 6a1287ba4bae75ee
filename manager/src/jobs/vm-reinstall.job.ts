// Reinstall (Orbit's POST .../restore, CloudStack's restoreVirtualMachine), queued with the VM in
// Reinstalling and its new image already recorded: a running VM is powered off, its root disk is
// replaced by a fresh overlay on the image (flavor, addresses and keys stay), and a VM that was
// running is started again. Each step has its own command id (retries are answered from memory).
import { eq } from "drizzle-orm";
import { OrbitError } from "#shared/errors.js";
import { PowerState, StopMode } from "#shared/protocol.js";
import type { CommandDispatcher, VmCommandTarget } from "../agents/command-dispatcher.js";
import type { Db } from "../db/database.js";
import { images, vms } from "../db/schema.js";
import type { SettingsRegistry } from "../settings/settings-registry.js";
import { transitionVm } from "../vm/vm-transitions.js";
import { stepCommandId } from "./job-command-ids.js";
import type { JobHandler } from "./job-runner.js";
import { startSpec } from "./vm-power.job.js";
import type { HeadroomSettings } from "./start-headroom.js";
import { rootDiskSpec } from "./vm-spec.js";

export const VM_REINSTALL_JOB_KINDS = ["vm.reinstall", "vm.reinstall-and-start"] as const;
export type VmReinstallJobKind = (typeof VM_REINSTALL_JOB_KINDS)[number];

type Dispatcher = Pick<CommandDispatcher, "run" | "stopVm" | "prepareDisk">;

export function vmReinstallJob(kind: VmReinstallJobKind, db: Db, dispatcher: Dispatcher, settings: Pick<SettingsRegistry, "number"> & HeadroomSettings): JobHandler {
  return async ({ job, progress }) => {
    if (job.vmId == null) throw new OrbitError("internal", `${kind} job without a VM`);
    const [vm] = await db.select().from(vms).where(eq(vms.id, job.vmId));
    if (!vm) throw new OrbitError("internal", `VM ${job.vmId} vanished`);
    if (vm.state !== "Reinstalling") return { skipped: `VM is ${vm.state}` };
    if (vm.hostId == null) throw new OrbitError("internal", `VM ${vm.id} has no host`);
    const timeoutMs = settings.number("vm.deploy.timeout.ms");
    const target = (step: string): VmCommandTarget => ({
      hostId: vm.hostId!, vmUuid: vm.uuid, vmId: vm.id, jobId: job.id, commandId: stepCommandId(job.uuid, step), timeoutMs,
    });
    const [image] = await db.select().from(images).where(eq(images.id, vm.imageId));
    if (!image) throw new OrbitError("internal", `VM ${vm.id}'s image ${vm.imageId} vanished`);

    if (kind === "vm.reinstall-and-start") {
      const off = await dispatcher.stopVm(target("stop"), { mode: StopMode.STOP_MODE_FORCE });
      if (off.powerState !== PowerState.POWER_STATE_SHUTOFF) {
        throw new OrbitError("hypervisor_error", `agent powered the domain off for the reinstall but reports it ${PowerState[off.powerState]}`);
      }
    }
    await progress(30);
    // An image without a file (the simulator's) gives the VM no disk of its own: nothing to replace.
    if (image.path) await dispatcher.prepareDisk(target("disk"), rootDiskSpec(image), { replace: true });
    await progress(70);
    const settle = (to: "Running" | "Stopped", powerState: string) => db.transaction((tx) => transitionVm(
      tx, vm.id, to, `job ${job.id}: ${kind}`, { onlyFrom: ["Reinstalling"], reason: `reinstalled from image ${image.name}`, powerState },
    ));
    if (kind === "vm.reinstall") {
      await settle("Stopped", "SHUTDOWN");
      return { image_name: image.name };
    }
    const started = await dispatcher.run(vm.hostId, {
      commandId: stepCommandId(job.uuid, "start"), deadlineMs: Date.now() + timeoutMs, vmUuid: vm.uuid,
      body: { $case: "startVm", value: { spec: await startSpec(db, vm, settings) } },
    }, { vmId: vm.id, jobId: job.id, timeoutMs });
    if (started.domain?.powerState !== PowerState.POWER_STATE_RUNNING) {
      throw new OrbitError("hypervisor_error", `agent started the reinstalled domain but reports it ${PowerState[started.domain?.powerState ?? 0]}`);
    }
    await settle("Running", "RUNNING");
    return { image_name: image.name };
  };
}
