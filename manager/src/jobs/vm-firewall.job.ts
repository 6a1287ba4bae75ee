// Sends a VM's current security rules to its host (queued by security-rules/ on every change).
// It reads the rules when it runs, so of several quick changes the last job applies the latest
// set. A VM that is not running is skipped: a stopped one gets its rules at its next start, and
// one being started is seen to by its start job (queueFirewallIfChanged, once it is Running:
// a change committed after that sees the VM Running and queues a job that applies it).
import { randomUUID } from "node:crypto";
import { eq } from "drizzle-orm";
import { OrbitError } from "#shared/errors.js";
import type { CommandDispatcher } from "../agents/command-dispatcher.js";
import type { Db } from "../db/database.js";
import { jobs, vms } from "../db/schema.js";
import type { FirewallSpec } from "#shared/protocol.js";
import type { JobEnqueuer } from "../vm/vm-service.js";
import { firewallSpec } from "../security-rules/firewall-spec.js";
import { securityRulesOf } from "../security-rules/security-rule-service.js";
import { firewallAddresses, loadVmNetworking } from "../network/vm-network.js";
import type { SettingsRegistry } from "../settings/settings-registry.js";
import type { JobHandler } from "./job-runner.js";
import { loadFirewallInputs } from "./start-inputs.js";

export function vmFirewallJob(db: Db, dispatcher: Pick<CommandDispatcher, "applyFirewall">, settings: Pick<SettingsRegistry, "number">): JobHandler {
  return async ({ job }) => {
    if (job.vmId == null) throw new OrbitError("internal", "vm.firewall job without a VM");
    const [vm] = await db.select().from(vms).where(eq(vms.id, job.vmId));
    if (!vm) throw new OrbitError("internal", `VM ${job.vmId} vanished`);
    if (vm.state !== "Running" || vm.hostId == null) return { skipped: `VM is ${vm.state}` };
    const rules = (await securityRulesOf(db, [vm.id])).get(vm.id) ?? [];
    await dispatcher.applyFirewall({
      hostId: vm.hostId, vmUuid: vm.uuid, vmId: vm.id, jobId: job.id, commandId: job.uuid,
      timeoutMs: settings.number("vm.deploy.timeout.ms"),
    }, firewallSpec(rules, firewallAddresses(await loadVmNetworking(db, vm))));
    return {};
  };
}

/**
 * Called by a start job once its VM is Running: when the VM's rules changed since its start spec
 * was built, queues a vm.firewall job (run now with `queue`, else by the runner's pending sweep).
 */
export async function queueFirewallIfChanged(
  db: Db, vm: { id: number; uuid: string; environmentId: number; accountId: number }, sent: FirewallSpec | undefined, queue?: JobEnqueuer,
): Promise<void> {
  // With the addresses as they are now: a floating IP attached during the start counts as a change.
  const { rules, networking } = await loadFirewallInputs(db, vm);
  const now = firewallSpec(rules, firewallAddresses(networking));
  if (sent && JSON.stringify(now) === JSON.stringify(sent)) return;
  const [job] = await db.insert(jobs).values({ uuid: randomUUID(), kind: "vm.firewall", vmId: vm.id, accountId: vm.accountId }).returning({ id: jobs.id });
  queue?.enqueue(job!.id);
}
