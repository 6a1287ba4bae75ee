// Deploy: Creating → Starting → (agent starts the domain) → Running, or Error with the reason
// and the capacity released. Running is set only when the agent reports the domain running.
// Created stopped (input start: false): Creating → Stopped, capacity held as for any stopped VM
// (CloudStack's stopped VMs keep theirs); the host is sent nothing until the first start, whose
// job sends the full spec (the agent defines the domain then: it has no define-only command).
import { eq } from "drizzle-orm";
import { OrbitError } from "#shared/errors.js";
import { PowerState } from "#shared/protocol.js";
import type { CommandDispatcher } from "../agents/command-dispatcher.js";
import type { Db } from "../db/database.js";
import { vms } from "../db/schema.js";
import type { SettingsRegistry } from "../settings/settings-registry.js";
import { transitionVm, transitionVmNow } from "../vm/vm-transitions.js";
import type { JobHandler } from "./job-runner.js";
import { loadStartInputs } from "./start-inputs.js";
import { buildVmSpec, instanceNameFlag } from "./vm-spec.js";
import { withStartHeadroom } from "./start-headroom.js";
import { settleBootVolume } from "../storage/boot-volumes.js";
import { firewallAddresses } from "../network/vm-network.js";
import { firewallSpec } from "../security-rules/firewall-spec.js";
import type { JobEnqueuer } from "../vm/vm-service.js";
import { queueFirewallIfChanged } from "./vm-firewall.job.js";

export function vmDeployJob(db: Db, dispatcher: CommandDispatcher, settings: SettingsRegistry, queue?: JobEnqueuer): JobHandler {
  return async ({ job, progress }) => {
    if (job.vmId == null) throw new OrbitError("internal", "deploy job without a VM");
    const vmId = job.vmId;
    if (job.input.start === false) {
      await db.transaction(async (tx) => {
        const moved = await transitionVm(tx, vmId, "Stopped", `job ${job.id}: deploy without start`, {
          onlyFrom: ["Creating"], reason: "created stopped: start it with the start action", powerState: "SHUTDOWN",
        });
        // Its boot volume is the VM's disk from now on (the first start's spec names it).
        const [vm] = await tx.select().from(vms).where(eq(vms.id, vmId));
        if (moved && vm) await settleBootVolume(tx, vm);
      });
      return {};
    }
    // One statement (its own transaction) unless the VM has a callback to queue with it.
    const moved = await transitionVmNow(db, vmId, "Starting", `job ${job.id}: deploy`, { onlyFrom: ["Creating"] });
    // The row as the transition wrote it; read only when it did not move (a step run again).
    const [vm] = moved ? [moved.vm] : await db.select().from(vms).where(eq(vms.id, job.vmId));
    if (!vm) throw new OrbitError("internal", `VM ${job.vmId} vanished`);
    // Deleted (or failed) while the job waited: nothing to deploy any more.
    if (vm.state !== "Starting") return { skipped: `VM is ${vm.state}` };
    if (vm.hostId == null) throw new OrbitError("internal", `VM ${vm.id} has no host`);
    await progress(20);
    // Everything the spec is built from besides the row, in one statement (a new VM has no attached volumes).
    const s = await loadStartInputs(db, vm);
    const spec = await withStartHeadroom(db, settings, vm,
      buildVmSpec(vm, s.image, s.alloc, s.gpuRows, s.networking, firewallSpec(s.rules, firewallAddresses(s.networking)), [], s.bootDisk, s.iso, instanceNameFlag(settings)));
    const result = await dispatcher.run(vm.hostId, {
      // Same id on every attempt: a retried command is answered from the agent's memory.
      commandId: job.uuid,
      deadlineMs: Date.now() + settings.number("vm.deploy.timeout.ms"),
      vmUuid: vm.uuid,
      body: { $case: "startVm", value: { spec } },
    }, { vmId: vm.id, jobId: job.id, timeoutMs: settings.number("vm.deploy.timeout.ms") });
    await progress(90);
    if (result.domain?.powerState !== PowerState.POWER_STATE_RUNNING) {
      throw new OrbitError("hypervisor_error", `agent started the domain but reports it ${PowerState[result.domain?.powerState ?? 0]}`);
    }
    const running = { onlyFrom: ["Starting"], powerState: "RUNNING" } as const;
    if (vm.bootVolumeId == null) {
      await transitionVmNow(db, vm.id, "Running", "agent reported the domain running", running);
    } else {
      await db.transaction(async (tx) => {
        const moved = await transitionVm(tx, vm.id, "Running", "agent reported the domain running", running);
        if (moved) await settleBootVolume(tx, vm);
      });
    }
    await queueFirewallIfChanged(db, vm, spec.firewall, queue);
    return { host_id: vm.hostId };
  };
}
