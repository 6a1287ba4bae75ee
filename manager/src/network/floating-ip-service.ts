// Floating (public) IPs of VMs: one per VM at most, from its environment's pool. Attach and detach
// record it (the VM's NIC spec carries it to the host, whose firewall NATs it to the fixed IP); a
// running VM's host gets the change at once through a vm.firewall job (its ApplyFirewall carries it).
import { randomUUID } from "node:crypto";
import { and, eq, isNull, ne } from "drizzle-orm";
import { ConflictError, NotFoundError } from "#shared/errors.js";
import type { Db } from "../db/database.js";
import { environments, ipAllocations, jobs, networks, vms } from "../db/schema.js";
import { isUniqueViolation } from "../db/postgres-errors.js";
import type { Caller, JobEnqueuer } from "../vm/vm-service.js";
import { parseCidr, poolAddressRange } from "./cidr.js";
import { addressesFreed, reserveAddresses } from "./ipam.js";

export interface FloatingIpChange { vmId: number; floatingIp: string }

export class FloatingIpService {
  constructor(private readonly db: Db, private readonly queue?: JobEnqueuer) {}

  /** A floating IP from the VM's environment pool (409: the VM has one, the environment has no pool, or it is used up). */
  async attach(caller: Caller, vmId: number): Promise<FloatingIpChange> {
    const vm = await this.vm(caller, vmId);
    if (vm.state === "Destroying") throw new ConflictError(`virtual machine ${vmId} is being deleted`, vm.state);
    const [network] = await this.db.select().from(networks).where(eq(networks.environmentId, vm.environmentId));
    const current = await this.current(vm.uuid);
    if (current) throw new ConflictError(`virtual machine ${vmId} already has floating IP ${current}`, undefined, { floating_ip: current });
    if (!network?.floatingCidr) {
      throw new ConflictError(`environment "${vm.environment}" has no floating IP pool: an admin sets one (PUT /v1/admin/environments/${vm.environmentId}/network)`);
    }
    try {
      const got = await reserveAddresses(this.db, {
        networkId: network.id, kind: "floating", range: poolAddressRange(parseCidr(network.floatingCidr, "floating_ip_pool")),
        vmUuids: [vm.uuid], what: `environment "${vm.environment}" floating IP pool ${network.floatingCidr}`,
      });
      await this.applyOnHost(vm);
      return { vmId, floatingIp: got.get(vm.uuid)! };
    } catch (e) {
      // A concurrent attach of the same VM won: (vm, kind) is unique.
      if (isUniqueViolation(e)) throw new ConflictError(`virtual machine ${vmId} already has a floating IP`);
      throw e;
    }
  }

  /** Releases the VM's floating IP back to the pool (409 when it has none). */
  async detach(caller: Caller, vmId: number): Promise<FloatingIpChange> {
    const vm = await this.vm(caller, vmId);
    const [gone] = await this.db.delete(ipAllocations)
      .where(and(eq(ipAllocations.vmUuid, vm.uuid), eq(ipAllocations.kind, "floating"))).returning({ networkId: ipAllocations.networkId, kind: ipAllocations.kind, address: ipAllocations.address });
    if (!gone) throw new ConflictError(`virtual machine ${vmId} has no floating IP`, undefined, { floating_ip: null });
    addressesFreed([gone]);
    await this.applyOnHost(vm);
    return { vmId, floatingIp: gone.address };
  }

  /** A running VM's NAT follows now (a stopped one's at its next start, a starting one's by its start job). */
  private async applyOnHost(vm: { id: number; state: string; accountId: number }): Promise<void> {
    if (vm.state !== "Running") return;
    const [job] = await this.db.insert(jobs).values({ uuid: randomUUID(), kind: "vm.firewall", vmId: vm.id, accountId: vm.accountId }).returning({ id: jobs.id });
    this.queue?.enqueue(job!.id);
  }

  private async current(vmUuid: string): Promise<string | undefined> {
    const [row] = await this.db.select({ address: ipAllocations.address }).from(ipAllocations)
      .where(and(eq(ipAllocations.vmUuid, vmUuid), eq(ipAllocations.kind, "floating")));
    return row?.address;
  }

  private async vm(caller: Caller, id: number) {
    const [vm] = await this.db.select({ id: vms.id, accountId: vms.accountId, uuid: vms.uuid, state: vms.state, environmentId: vms.environmentId, environment: environments.name })
      .from(vms).innerJoin(environments, eq(environments.id, vms.environmentId))
      .where(and(eq(vms.id, id), isNull(vms.deletedAt), ne(vms.state, "Destroyed"),
        caller.role === "admin" ? undefined : eq(vms.accountId, caller.accountId)));
    if (!vm) throw new NotFoundError("virtual machine", id);
    return vm;
  }
}
