// Puts a running VM's ISO (vms.iso_image_id) in its domain's cdrom slot, or empties the slot
// (queued by vm/vm-iso.ts when an ISO is attached to or detached from a running VM). It reads the
// ISO when it runs, so of quick changes the last job sends the latest. A VM that is no longer
// running is skipped: its next start's spec carries the cdrom as it is then.
import { eq } from "drizzle-orm";
import { OrbitError } from "#shared/errors.js";
import type { CommandDispatcher } from "../agents/command-dispatcher.js";
import type { Db } from "../db/database.js";
import { vms } from "../db/schema.js";
import { isoOfVm } from "../vm/vm-iso.js";
import type { SettingsRegistry } from "../settings/settings-registry.js";
import type { JobHandler } from "./job-runner.js";

export const VM_ISO_JOB = "vm.iso";

export function vmIsoJob(db: Db, dispatcher: Pick<CommandDispatcher, "changeMedia">, settings: Pick<SettingsRegistry, "number">): JobHandler {
  return async ({ job }) => {
    if (job.vmId == null) throw new OrbitError("internal", "vm.iso job without a VM");
    const [vm] = await db.select().from(vms).where(eq(vms.id, job.vmId));
    if (!vm) throw new OrbitError("internal", `VM ${job.vmId} vanished`);
    if (vm.state !== "Running" || vm.hostId == null) return { skipped: `VM is ${vm.state}` };
    const { image } = await isoOfVm(db, vm);
    await dispatcher.changeMedia({
      hostId: vm.hostId, vmUuid: vm.uuid, vmId: vm.id, jobId: job.id, commandId: job.uuid,
      timeoutMs: settings.number("vm.deploy.timeout.ms"),
    }, image ? { sourcePath: image.path } : { eject: true });
    return image ? { inserted: image.id } : { ejected: true };
  };
}
