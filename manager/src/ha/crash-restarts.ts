// Restarts on its host a VM whose domain stopped without an API call (the reconciler saw Running →
// Stopped from a heartbeat or a domain event: a crash, a guest poweroff), as its run strategy or HA
// flag asks (restart-policy.ts), after a backoff; a crash loop (max.retries restarts within
// time.between.failures) leaves it in Error with the reason, its capacity kept. The wait is a time
// in the VM's row (crash_restart_due_at), acted on by HA's loop (restartDue, every round): a
// manager restarted meanwhile, or another manager holding HA's duty, restarts it when it is due.
import { randomUUID } from "node:crypto";
import { and, asc, eq, isNotNull, isNull, lte } from "drizzle-orm";
import type { Logger } from "pino";
import type { Db } from "../db/database.js";
import { hosts, jobs, vms } from "../db/schema.js";
import { transitionVm } from "../vm/vm-transitions.js";
import type { HaSettings } from "./ha-settings.js";
import { decideCrashRestart, restartsAfterStop } from "./restart-policy.js";

export class CrashRestarts {
  constructor(
    private readonly db: Db,
    private readonly jobsQueue: { enqueue(jobId: number): void },
    private readonly settings: HaSettings,
    private readonly log: Logger,
    private readonly now: () => Date = () => new Date(),
  ) {}

  /** The reconciler's hook: the VM's domain stopped by itself ("crashed", or a clean "shutoff"). */
  async stoppedByItself(vmId: number, how: "crashed" | "shutoff"): Promise<void> {
    if (!this.settings.enabled()) return;
    const [vm] = await this.db.select().from(vms).where(eq(vms.id, vmId));
    if (!vm || vm.state !== "Stopped" || !restartsAfterStop(vm, how)) return;
    const d = decideCrashRestart({ restarts: vm.crashRestarts, lastRestartAt: vm.crashRestartAt }, {
      maxRetries: this.settings.maxRetries(), backoffMs: this.settings.restartBackoffMs(), timeBetweenFailuresMs: this.settings.timeBetweenFailuresMs(),
    }, this.now());
    if (!d.restart) {
      await this.db.transaction((tx) => transitionVm(tx, vmId, "Error", "HA: crash loop", { onlyFrom: ["Stopped"], reason: d.reason, keepCapacity: true }));
      this.log.warn({ vmId, reason: d.reason }, "HA: VM in a crash loop: not restarted");
      return;
    }
    const due = new Date(this.now().getTime() + d.afterMs);
    await this.db.update(vms).set({ crashRestarts: d.restarts, crashRestartAt: this.now(), crashRestartDueAt: due }).where(eq(vms.id, vmId));
    this.log.warn({ vmId, how, afterMs: d.afterMs, restart: d.restarts }, "HA: the VM's domain stopped by itself: restarting it on its host");
  }

  /** HA's round: restarts the VMs whose backoff is over (oldest due first). */
  async restartDue(): Promise<number> {
    const due = await this.db.select({ id: vms.id, n: vms.crashRestarts }).from(vms)
      .where(and(isNotNull(vms.crashRestartDueAt), lte(vms.crashRestartDueAt, this.now()), isNull(vms.deletedAt)))
      .orderBy(asc(vms.crashRestartDueAt)).limit(100);
    let started = 0;
    for (const v of due) {
      try {
        if (await this.restart(v.id, "stopped by itself", v.n)) started++;
      } catch (e) {
        this.log.error({ err: e, vmId: v.id }, "HA: restarting a stopped VM failed");
      }
    }
    return started;
  }

  private async restart(vmId: number, how: string, n: number): Promise<boolean> {
    const jobId = await this.db.transaction(async (tx) => {
      // Only if nothing happened meanwhile (a user's start or delete, its host lost); due or not, it is done with.
      const [vm] = await tx.select({ state: vms.state, accountId: vms.accountId, hostState: hosts.state, due: vms.crashRestartDueAt }).from(vms)
        .innerJoin(hosts, eq(hosts.id, vms.hostId)).where(eq(vms.id, vmId)).for("update", { of: vms });
      if (!vm?.due) return undefined;
      await tx.update(vms).set({ crashRestartDueAt: null }).where(eq(vms.id, vmId));
      if (vm.state !== "Stopped" || vm.hostState !== "Up") return undefined;
      await transitionVm(tx, vmId, "Starting", `HA: restart ${n} after the domain stopped by itself (${how})`, {
        onlyFrom: ["Stopped"], reason: `restarted by HA: the domain stopped without an API call (${how}; restart ${n})`,
      });
      const [job] = await tx.insert(jobs).values({ uuid: randomUUID(), kind: "vm.start", vmId, accountId: vm.accountId }).returning({ id: jobs.id });
      return job!.id;
    });
    if (jobId === undefined) return false;
    this.jobsQueue.enqueue(jobId);
    return true;
  }
}
