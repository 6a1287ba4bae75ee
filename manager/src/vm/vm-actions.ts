// A user's actions on a VM that exists: power actions (each a job, the VM in its in-flight state
// at once), labels and name (plain updates). Which action makes sense in which state is the state
// machine's (planAction); another account's VM is a 404.
import { randomUUID } from "node:crypto";
import { and, eq } from "drizzle-orm";
import { NotFoundError } from "#shared/errors.js";
import type { Db } from "../db/database.js";
import { jobs, vms } from "../db/schema.js";
import type { Caller, JobEnqueuer } from "./vm-service.js";
import { transitionVm } from "./vm-transitions.js";
import { isVmState, planAction, type VmAction, type VmState } from "./vm-state-machine.js";

export interface ActionStarted { jobId: number; state: VmState }

export class VmActions {
  constructor(private readonly db: Db, private readonly jobsQueue: JobEnqueuer) {}

  private async row(caller: Caller, id: number) {
    const scope = caller.role === "admin" ? undefined : eq(vms.accountId, caller.accountId);
    const [vm] = await this.db.select({ id: vms.id, state: vms.state, accountId: vms.accountId }).from(vms).where(and(eq(vms.id, id), scope));
    if (!vm || vm.state === "Destroyed") throw new NotFoundError("virtual machine", id);
    return vm;
  }

  /**
   * Checks the action against the VM's state, moves it to the in-flight state and queues the job,
   * in one transaction under the VM's row lock (two concurrent stops: the second sees Stopping).
   */
  async power(caller: Caller, id: number, action: VmAction): Promise<ActionStarted> {
    const vm = await this.row(caller, id);
    const { jobId, state } = await this.db.transaction(async (tx) => {
      const [locked] = await tx.select({ state: vms.state }).from(vms).where(eq(vms.id, id)).for("update");
      const from: VmState = locked && isVmState(locked.state) ? locked.state : "Unknown";
      const plan = planAction(action, from, `virtual machine ${id}`);
      if (plan.during) await transitionVm(tx, id, plan.during, `user requested ${action}`);
      const [job] = await tx.insert(jobs).values({
        uuid: randomUUID(), kind: plan.job, vmId: id, accountId: vm.accountId,
      }).returning({ id: jobs.id });
      return { jobId: job!.id, state: plan.during ?? from };
    });
    this.jobsQueue.enqueue(jobId);
    return { jobId, state };
  }

  /** Replaces the VM's labels (Hyperstack's PUT .../label sets the whole list). */
  async setLabels(caller: Caller, id: number, labels: readonly string[]): Promise<void> {
    await this.row(caller, id);
    await this.db.update(vms).set({ labels: [...new Set(labels)], updatedAt: new Date() }).where(eq(vms.id, id));
  }

  async rename(caller: Caller, id: number, name: string): Promise<void> {
    await this.row(caller, id);
    await this.db.update(vms).set({ name, updatedAt: new Date() }).where(eq(vms.id, id));
  }
}
