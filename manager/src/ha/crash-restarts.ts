// Restarts on its host a VM whose domain stopped without an API call (the reconciler saw Running →
// Stopped from a heartbeat or a domain event: a crash, a guest poweroff), as its run strategy or HA
// flag asks (restart-policy.ts), after a backoff; a crash loop (max.retries restarts within
// time.between.failures) leaves it in Error with the reason, its capacity kept. The wait is a
// timer in this process: a manager restarted meanwhile leaves the VM Stopped (not restarted).
import { randomUUID } from "node:crypto";
import { eq } from "drizzle-orm";
import type { Logger } from "pino";
import type { Db } from "../db/database.js";
import { hosts, jobs, vms } from "../db/schema.js";
import { transitionVm } from "../vm/vm-transitions.js";
import type { HaSettings } from "./ha-settings.js";
import { decideCrashRestart, restartsAfterStop } from "./restart-policy.js";

export class CrashRestarts {
  private readonly timers = new Set<NodeJS.Timeout>();

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
    await this.db.update(vms).set({ crashRestarts: d.restarts, crashRestartAt: this.now() }).where(eq(vms.id, vmId));
    this.log.warn({ vmId, how, afterMs: d.afterMs, restart: d.restarts }, "HA: the VM's domain stopped by itself: restarting it on its host");
    const t = setTimeout(() => {
      this.timers.delete(t);
      this.restart(vmId, how, d.restarts).catch((e: unknown) => this.log.error({ err: e, vmId }, "HA: restarting a stopped VM failed"));
    }, d.afterMs);
    t.unref();
    this.timers.add(t);
  }

  private async restart(vmId: number, how: string, n: number): Promise<void> {
    const jobId = await this.db.transaction(async (tx) => {
      // Only if nothing happened meanwhile (a user's start or delete, its host lost).
      const [vm] = await tx.select({ state: vms.state, accountId: vms.accountId, hostState: hosts.state }).from(vms)
        .innerJoin(hosts, eq(hosts.id, vms.hostId)).where(eq(vms.id, vmId)).for("update", { of: vms });
      if (!vm || vm.state !== "Stopped" || vm.hostState !== "Up") return undefined;
      await transitionVm(tx, vmId, "Starting", `HA: restart ${n} after the domain stopped by itself (${how})`, {
        onlyFrom: ["Stopped"], reason: `restarted by HA: the domain stopped without an API call (${how}; restart ${n})`,
      });
      const [job] = await tx.insert(jobs).values({ uuid: randomUUID(), kind: "vm.start", vmId, accountId: vm.accountId }).returning({ id: jobs.id });
      return job!.id;
    });
    if (jobId !== undefined) this.jobsQueue.enqueue(jobId);
  }

  stop(): void {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
  }
}
