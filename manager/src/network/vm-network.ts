// A VM's NIC as its start command needs it: its network and addresses from IPAM. None for VMs
// created before environments had networks (they keep starting without a NIC).
import { and, eq } from "drizzle-orm";
import type { NicSpec } from "#shared/protocol.js";
import type { Db, Tx } from "../db/database.js";
import { ipAllocations, networks } from "../db/schema.js";
import { vmNic, type VmNetworkRow } from "./vm-nic.js";

export interface VmNetworking { nic: NicSpec; nameservers: string[] }

export async function loadVmNetworking(db: Db | Tx, vm: { uuid: string; environmentId: number }): Promise<VmNetworking | undefined> {
  const [network] = await db.select().from(networks).where(eq(networks.environmentId, vm.environmentId));
  if (!network) return undefined;
  const rows = await db.select({ kind: ipAllocations.kind, address: ipAllocations.address }).from(ipAllocations)
    .where(and(eq(ipAllocations.networkId, network.id), eq(ipAllocations.vmUuid, vm.uuid.toLowerCase())));
  return vmNetworking(vm, network, rows);
}

/** The NIC from the VM's network and its addresses there (read by the caller). */
export function vmNetworking(
  vm: { uuid: string }, network: VmNetworkRow | undefined, addresses: readonly { kind: string; address: string }[],
): VmNetworking | undefined {
  if (!network) return undefined;
  const fixed = addresses.find((r) => r.kind === "fixed")?.address;
  if (!fixed) return undefined;
  const floating = addresses.find((r) => r.kind === "floating")?.address ?? null;
  return { nic: vmNic(vm.uuid, network, fixed, floating), nameservers: network.nameservers };
}

/** The addresses the host's firewall and floating-IP NAT are written for ("" when not known). */
export function firewallAddresses(networking: VmNetworking | undefined): { privateIp: string; floatingIp: string } {
  return { privateIp: networking?.nic.ipAddress ?? "", floatingIp: networking?.nic.floatingIp ?? "" };
}
