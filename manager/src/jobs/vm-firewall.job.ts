// Sends a VM's current security rules to its host (queued by security-rules/ on every change).
// It reads the rules when it runs, so of several quick changes the last job applies the latest
// set. A VM still being deployed is waited for (retryable): its start spec may predate the change.
// A stopped or failed VM is skipped: its next start carries the rules.
import { eq } from "drizzle-orm";
import { OrbitError } from "#shared/errors.js";
import type { CommandDispatcher } from "../agents/command-dispatcher.js";
import type { Db } from "../db/database.js";
import { vms } from "../db/schema.js";
import { firewallSpec } from "../security-rules/firewall-spec.js";
import { securityRulesOf } from "../security-rules/security-rule-service.js";
import type { SettingsRegistry } from "../settings/settings-registry.js";
import type { JobHandler } from "./job-runner.js";

const WAIT_FOR = new Set(["Creating", "Starting"]);

export function vmFirewallJob(db: Db, dispatcher: Pick<CommandDispatcher, "applyFirewall">, settings: Pick<SettingsRegistry, "number">): JobHandler {
  return async ({ job }) => {
    if (job.vmId == null) throw new OrbitError("internal", "vm.firewall job without a VM");
    const [vm] = await db.select().from(vms).where(eq(vms.id, job.vmId));
    if (!vm) throw new OrbitError("internal", `VM ${job.vmId} vanished`);
    if (WAIT_FOR.has(vm.state)) throw new OrbitError("conflict", `VM ${vm.id} is ${vm.state}: its firewall is sent once it runs`, { retryable: true });
    if (vm.state !== "Running" || vm.hostId == null) return { skipped: `VM is ${vm.state}` };
    const rules = (await securityRulesOf(db, [vm.id])).get(vm.id) ?? [];
    await dispatcher.applyFirewall({
      hostId: vm.hostId, vmUuid: vm.uuid, vmId: vm.id, jobId: job.id, commandId: job.uuid,
      timeoutMs: settings.number("vm.deploy.timeout.ms"),
    }, firewallSpec(rules));
    return {};
  };
}
