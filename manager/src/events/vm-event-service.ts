// A VM's history (GET /v1/core/virtual-machines/{id}/events): its creation, every recorded state
// transition and every action (job) requested and finished, oldest first. Scoped like the VM
// itself: another account's VM, or a deleted one, is not found.
import { and, asc, eq, ne } from "drizzle-orm";
import { NotFoundError } from "#shared/errors.js";
import type { Db } from "../db/database.js";
import { hosts, jobs, vms, vmStateTransitions } from "../db/schema.js";
import { actionEvent, byTime, createdEvent, stateChangedEvent, withoutHostName, type VmEvent, type VmRef } from "./vm-event.js";

export interface EventCaller { accountId: number; role: "admin" | "user" }

/** The caller's VM (any VM for admins) that is not deleted, or a NotFoundError. */
export async function visibleVm(db: Db, caller: EventCaller, vmId: number): Promise<VmRef & { createdAt: Date; callbackUrl: string; hostName: string | null }> {
  const [vm] = await db.select({
    id: vms.id, uuid: vms.uuid, name: vms.name, accountId: vms.accountId, createdAt: vms.createdAt, callbackUrl: vms.callbackUrl, hostName: hosts.name,
  }).from(vms).leftJoin(hosts, eq(hosts.id, vms.hostId)).where(and(
    eq(vms.id, vmId), ne(vms.state, "Destroyed"),
    caller.role === "admin" ? undefined : eq(vms.accountId, caller.accountId),
  ));
  if (!vm) throw new NotFoundError("virtual machine", vmId);
  return vm;
}

export class VmEventService {
  constructor(private readonly db: Db) {}

  async history(caller: EventCaller, vmId: number): Promise<VmEvent[]> {
    const vm = await visibleVm(this.db, caller, vmId);
    const [transitions, vmJobs] = await Promise.all([
      this.db.select().from(vmStateTransitions).where(eq(vmStateTransitions.vmId, vmId)).orderBy(asc(vmStateTransitions.id)),
      this.db.select().from(jobs).where(eq(jobs.vmId, vmId)).orderBy(asc(jobs.id)),
    ]);
    const deploy = vmJobs.find((j) => j.kind === "vm.deploy");
    const events: VmEvent[] = [createdEvent(vm, deploy?.userId ?? null)];
    for (const t of transitions) events.push(stateChangedEvent(vm, t));
    for (const j of vmJobs) {
      events.push(actionEvent(vm, j, "requested"));
      if (j.status === "succeeded" || j.status === "failed") events.push(actionEvent(vm, j, j.status));
    }
    events.sort(byTime);
    return caller.role === "admin" ? events : events.map((e) => withoutHostName(e, vm.hostName));
  }
}
