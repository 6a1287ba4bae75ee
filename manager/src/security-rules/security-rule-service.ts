// A VM's security rules (Hyperstack's sg-rules): added and deleted one at a time, each checked
// before anything is written. A change to a running VM is sent to its host by a vm.firewall job
// (jobs/vm-firewall.job.ts), which applies the VM's whole rule set at once.
import { randomUUID } from "node:crypto";
import { and, asc, count, eq, inArray } from "drizzle-orm";
import { ConflictError, InvalidArgumentError, NotFoundError } from "#shared/errors.js";
import { checkSecurityRule, MAX_SECURITY_RULES_PER_VM, type SecurityRule, type SecurityRuleInput } from "#shared/security-rules.js";
import type { Db, Tx } from "../db/database.js";
import { jobs, securityRules, vms } from "../db/schema.js";
import type { Caller, JobEnqueuer } from "../vm/vm-service.js";

const MAX_RULES_PER_VM = MAX_SECURITY_RULES_PER_VM;

/** A stored rule, as the presenters show it. */
export interface StoredSecurityRule extends SecurityRule {
  id: number;
  vmId: number;
  createdAt: Date;
}


/** Every rule checked (field names prefixed with `field[i]`), or the first refusal. */
export function checkSecurityRules(rules: readonly SecurityRuleInput[], field: string): SecurityRule[] {
  if (rules.length > MAX_RULES_PER_VM) throw new InvalidArgumentError(field, `at most ${MAX_RULES_PER_VM} security rules per VM; ${rules.length} given`);
  return rules.map((r, i) => checkSecurityRule(r, `${field}[${i}]`));
}

/** The rows of rules for one VM (the create writes them with its VMs). */
export function securityRuleRows(vmId: number, rules: readonly SecurityRule[]): (typeof securityRules.$inferInsert)[] {
  return rules.map((r) => ({
    vmId, direction: r.direction, ethertype: r.ethertype, protocol: r.protocol, remoteIpPrefix: r.remoteIpPrefix,
    portRangeMin: r.portRangeMin ?? null, portRangeMax: r.portRangeMax ?? null,
  }));
}

/** The rules of these VMs, oldest first, by VM id. */
export async function securityRulesOf(db: Db | Tx, vmIds: readonly number[]): Promise<Map<number, StoredSecurityRule[]>> {
  const out = new Map<number, StoredSecurityRule[]>(vmIds.map((id) => [id, []]));
  if (vmIds.length === 0) return out;
  const rows = await db.select().from(securityRules).where(inArray(securityRules.vmId, [...vmIds])).orderBy(asc(securityRules.id));
  for (const r of rows) out.get(r.vmId)?.push(toStored(r));
  return out;
}

export function toStored(r: typeof securityRules.$inferSelect): StoredSecurityRule {
  return {
    id: r.id, vmId: r.vmId, createdAt: r.createdAt,
    direction: r.direction as SecurityRule["direction"], ethertype: r.ethertype as SecurityRule["ethertype"],
    protocol: r.protocol as SecurityRule["protocol"], remoteIpPrefix: r.remoteIpPrefix,
    ...(r.portRangeMin !== null ? { portRangeMin: r.portRangeMin } : {}),
    ...(r.portRangeMax !== null ? { portRangeMax: r.portRangeMax } : {}),
  };
}

export class SecurityRuleService {
  constructor(private readonly db: Db, private readonly jobsQueue: JobEnqueuer) {}

  /** Adds a rule; when the VM runs, queues the job that sends the new set to its host. */
  async add(caller: Caller, vmId: number, input: SecurityRuleInput): Promise<StoredSecurityRule> {
    const rule = checkSecurityRule(input);
    const { stored, jobId } = await this.db.transaction(async (tx) => {
      const vm = await this.lockVm(tx, caller, vmId);
      const [{ n }] = (await tx.select({ n: count() }).from(securityRules).where(eq(securityRules.vmId, vmId))) as [{ n: number }];
      if (Number(n) >= MAX_RULES_PER_VM) {
        throw new ConflictError(`virtual machine ${vmId} has ${MAX_RULES_PER_VM} security rules already, the most it may have`);
      }
      const [row] = await tx.insert(securityRules).values(securityRuleRows(vmId, [rule])).returning();
      return { stored: toStored(row!), jobId: await this.queueFirewall(tx, vm) };
    });
    if (jobId !== undefined) this.jobsQueue.enqueue(jobId);
    return stored;
  }

  async remove(caller: Caller, vmId: number, ruleId: number): Promise<void> {
    const jobId = await this.db.transaction(async (tx) => {
      const vm = await this.lockVm(tx, caller, vmId);
      const gone = await tx.delete(securityRules).where(and(eq(securityRules.id, ruleId), eq(securityRules.vmId, vmId))).returning({ id: securityRules.id });
      if (gone.length === 0) throw new NotFoundError("security rule", ruleId, `virtual machine ${vmId} has no security rule ${ruleId}`);
      return this.queueFirewall(tx, vm);
    });
    if (jobId !== undefined) this.jobsQueue.enqueue(jobId);
  }

  /** The caller's VM, locked so that rule changes and their jobs are ordered; 404 otherwise. */
  private async lockVm(tx: Tx, caller: Caller, vmId: number) {
    const scope = caller.role === "admin" ? undefined : eq(vms.accountId, caller.accountId);
    const [vm] = await tx.select({ id: vms.id, state: vms.state, accountId: vms.accountId }).from(vms)
      .where(and(eq(vms.id, vmId), scope)).for("update");
    if (!vm || vm.state === "Destroyed" || vm.state === "Destroying") throw new NotFoundError("virtual machine", vmId);
    return vm;
  }

  /**
   * A vm.firewall job when the VM runs. One being started is its start job's (jobs/vm-firewall.job.ts,
   * queueFirewallIfChanged); a stopped one gets its rules at its next start.
   */
  private async queueFirewall(tx: Tx, vm: { id: number; state: string; accountId: number }): Promise<number | undefined> {
    if (vm.state !== "Running") return undefined;
    const [job] = await tx.insert(jobs).values({ uuid: randomUUID(), kind: "vm.firewall", vmId: vm.id, accountId: vm.accountId }).returning({ id: jobs.id });
    return job!.id;
  }
}
