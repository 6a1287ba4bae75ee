// The power actions' jobs (queued by vm/vm-actions.ts with the VM already in its in-flight state):
// each sends one command to the VM's host and settles the state from what the host answers. A job
// that finds its VM in another state (deleted meanwhile) does nothing. Same command id on every
// attempt: a retried command is answered from the agent's memory.
import { eq } from "drizzle-orm";
import { OrbitError } from "#shared/errors.js";
import { PowerState, StopMode, type DomainStatus } from "#shared/protocol.js";
import type { CommandDispatcher, VmCommandTarget } from "../agents/command-dispatcher.js";
import type { Db } from "../db/database.js";
import { vms } from "../db/schema.js";
import type { SettingsRegistry } from "../settings/settings-registry.js";
import { transitionVm } from "../vm/vm-transitions.js";
import type { VmState } from "../vm/vm-state-machine.js";
import type { JobHandler } from "./job-runner.js";
import { loadStartInputs } from "./start-inputs.js";
import { buildVmSpec, instanceNameFlag } from "./vm-spec.js";
import { type HeadroomSettings, withStartHeadroom } from "./start-headroom.js";
import { firewallAddresses } from "../network/vm-network.js";
import { firewallSpec } from "../security-rules/firewall-spec.js";
import type { JobEnqueuer } from "../vm/vm-service.js";
import { queueFirewallIfChanged } from "./vm-firewall.job.js";

export const VM_POWER_JOB_KINDS = ["vm.start", "vm.restore", "vm.stop", "vm.shutdown", "vm.reboot", "vm.hard-reboot", "vm.hibernate"] as const;
export type VmPowerJobKind = (typeof VM_POWER_JOB_KINDS)[number];

type VmRow = typeof vms.$inferSelect;
type Dispatcher = Pick<CommandDispatcher, "run" | "stopVm" | "rebootVm" | "hibernateVm" | "restoreVm">;

/** The state each job expects its VM in (set when the action was accepted). */
const EXPECTS: Record<VmPowerJobKind, VmState> = {
  "vm.start": "Starting", "vm.restore": "Starting", "vm.stop": "Stopping", "vm.shutdown": "Stopping",
  "vm.reboot": "Running", "vm.hard-reboot": "Running", "vm.hibernate": "Hibernating",
};

function powerOf(d: DomainStatus | undefined): string {
  return PowerState[d?.powerState ?? PowerState.POWER_STATE_UNSPECIFIED];
}

function expectPower(d: DomainStatus | undefined, want: PowerState, what: string): void {
  if (d?.powerState !== want) throw new OrbitError("hypervisor_error", `agent ${what} but reports the domain ${powerOf(d)}`);
}

/** The spec a start defines the domain from: the VM's rows as they are now. */
export async function startSpec(db: Db, vm: VmRow, settings: HeadroomSettings) {
  // One statement (its GPUs on its host only: a migration holds the destination's as rows of the VM too).
  const s = await loadStartInputs(db, vm, { withVolumes: true });
  return withStartHeadroom(db, settings, vm, buildVmSpec(vm, s.image, s.alloc, s.gpuRows, s.networking, firewallSpec(s.rules, firewallAddresses(s.networking)),
    s.volumeDisks, s.bootDisk, s.iso, instanceNameFlag(settings)));
}

export function vmPowerJob(kind: VmPowerJobKind, db: Db, dispatcher: Dispatcher, settings: Pick<SettingsRegistry, "number"> & HeadroomSettings, queue?: JobEnqueuer): JobHandler {
  return async ({ job }) => {
    if (job.vmId == null) throw new OrbitError("internal", `${kind} job without a VM`);
    const [vm] = await db.select().from(vms).where(eq(vms.id, job.vmId));
    if (!vm) throw new OrbitError("internal", `VM ${job.vmId} vanished`);
    if (vm.state !== EXPECTS[kind]) return { skipped: `VM is ${vm.state}` };
    if (vm.hostId == null) throw new OrbitError("internal", `VM ${vm.id} has no host`);
    const target: VmCommandTarget = {
      hostId: vm.hostId, vmUuid: vm.uuid, vmId: vm.id, jobId: job.id, commandId: job.uuid,
      timeoutMs: settings.number("vm.deploy.timeout.ms"),
    };
    const settle = (to: VmState, reason: string, powerState: string) =>
      db.transaction((tx) => transitionVm(tx, vm.id, to, `job ${job.id}: ${kind}`, { onlyFrom: [EXPECTS[kind]], reason, powerState }));

    switch (kind) {
      case "vm.start": {
        const spec = await startSpec(db, vm, settings);
        const result = await dispatcher.run(vm.hostId, {
          commandId: job.uuid, deadlineMs: Date.now() + target.timeoutMs, vmUuid: vm.uuid,
          body: { $case: "startVm", value: { spec } },
        }, { vmId: vm.id, jobId: job.id, timeoutMs: target.timeoutMs });
        expectPower(result.domain, PowerState.POWER_STATE_RUNNING, "started the domain");
        await settle("Running", "", "RUNNING");
        await queueFirewallIfChanged(db, vm, spec.firewall, queue);
        return {};
      }
      case "vm.restore":
        expectPower(await dispatcher.restoreVm(target), PowerState.POWER_STATE_RUNNING, "restored the domain");
        await settle("Running", "", "RUNNING");
        // A restore carries no spec: the rules are sent again, in case they changed while it slept.
        await queueFirewallIfChanged(db, vm, undefined, queue);
        return {};
      case "vm.stop":
        expectPower(await dispatcher.stopVm(target, { mode: StopMode.STOP_MODE_FORCE }), PowerState.POWER_STATE_SHUTOFF, "powered the domain off");
        await settle("Stopped", "stopped by the user (power off)", "SHUTDOWN");
        return {};
      case "vm.shutdown":
        return shutdown(dispatcher, settings, vm, target, settle);
      case "vm.reboot":
      case "vm.hard-reboot":
        expectPower(await dispatcher.rebootVm(target, { hard: kind === "vm.hard-reboot" }), PowerState.POWER_STATE_RUNNING, "rebooted the domain");
        return {};
      case "vm.hibernate":
        expectPower(await dispatcher.hibernateVm(target), PowerState.POWER_STATE_SHUTOFF, "hibernated the domain");
        await settle("Hibernated", "hibernated by the user (memory saved on the host)", "SHUTDOWN");
        return {};
    }
  };
}

/**
 * ACPI shutdown: the guest gets `vm.shutdown.timeout.ms` to power off. A guest that does not is
 * left Running with the reason, and the job fails (not retried) saying that stop forces it off.
 */
async function shutdown(
  dispatcher: Dispatcher, settings: Pick<SettingsRegistry, "number">, vm: VmRow, target: VmCommandTarget,
  settle: (to: VmState, reason: string, powerState: string) => Promise<unknown>,
) {
  const timeoutMs = settings.number("vm.shutdown.timeout.ms");
  let domain: DomainStatus;
  try {
    // The command's own deadline covers the guest's time to shut down.
    domain = await dispatcher.stopVm({ ...target, timeoutMs: timeoutMs + target.timeoutMs }, { mode: StopMode.STOP_MODE_ACPI, timeoutMs });
  } catch (e) {
    if (!(e instanceof OrbitError) || e.code !== "deadline_exceeded") throw e;
    const reason = `the guest did not shut down within ${timeoutMs} ms of the ACPI request; stop powers it off`;
    await settle("Running", reason, "RUNNING");
    throw new OrbitError("deadline_exceeded", `VM ${vm.id}: ${reason}`, { retryable: false });
  }
  expectPower(domain, PowerState.POWER_STATE_SHUTOFF, "shut the domain down");
  await settle("Stopped", "shut down by the guest (ACPI)", "SHUTDOWN");
  return {};
}
