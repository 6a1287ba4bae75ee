// PURE: a VM's NIC on its environment network and the cloud-init network-config that gives the
// guest its address (static: the manager's IPAM decided it, so no DHCP server is needed).
import { createHash } from "node:crypto";
import type { NicSpec } from "#shared/protocol.js";
import { parseCidr } from "./cidr.js";
import { bridgeName } from "./network-service.js";

export interface VmNetworkRow { id: number; cidr: string; gateway: string; nameservers: string[] }

/** A stable MAC for the VM's NIC: 52:54:00 (QEMU's prefix, locally administered) and 3 bytes of the uuid's hash. */
export function macFor(vmUuid: string, nicIndex = 0): string {
  const h = createHash("sha256").update(`${vmUuid.toLowerCase()}/${nicIndex}`).digest();
  return ["52", "54", "00", ...[h[0]!, h[1]!, h[2]!].map((b) => b.toString(16).padStart(2, "0"))].join(":");
}

export function vmNic(vmUuid: string, network: VmNetworkRow, ipAddress: string, floatingIp: string | null): NicSpec {
  return {
    mac: macFor(vmUuid),
    bridge: bridgeName(network.id),
    model: "virtio",
    ipAddress,
    prefixLength: parseCidr(network.cidr, "cidr").prefix,
    gateway: network.gateway,
    floatingIp: floatingIp ?? "",
  };
}

/**
 * network-config version 2 for the NIC, matched by MAC. Written as JSON, which YAML parsers
 * (cloud-init's included) read as YAML: the manager needs no YAML library for one document.
 */
export function networkConfigFor(nic: NicSpec, nameservers: readonly string[]): string {
  return `${JSON.stringify({
    version: 2,
    ethernets: {
      eth0: {
        match: { macaddress: nic.mac },
        "set-name": "eth0",
        dhcp4: false,
        addresses: [`${nic.ipAddress}/${nic.prefixLength}`],
        routes: [{ to: "default", via: nic.gateway }],
        ...(nameservers.length > 0 ? { nameservers: { addresses: [...nameservers] } } : {}),
      },
    },
  }, null, 2)}\n`;
}
