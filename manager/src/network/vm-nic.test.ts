import { parse } from "yaml";
import { describe, expect, it } from "vitest";
import { macFor, networkConfigFor, vmNic } from "./vm-nic.js";

const UUID = "0a1b2c3d-0000-4000-8000-000000000007";
const NET = { id: 12, cidr: "10.128.4.0/24", gateway: "10.128.4.1", nameservers: ["1.1.1.1"] };

describe("a VM's NIC", () => {
  it("has a stable, locally administered MAC derived from the VM's uuid", () => {
    expect(macFor(UUID)).toMatch(/^52:54:00(:[0-9a-f]{2}){3}$/);
    expect(macFor(UUID.toUpperCase())).toBe(macFor(UUID));
    expect(macFor("0a1b2c3d-0000-4000-8000-000000000008")).not.toBe(macFor(UUID));
  });

  it("sits on the network's bridge with its address, and the network-config gives the guest that address statically", () => {
    const nic = vmNic(UUID, NET, "10.128.4.9", "203.0.113.5");
    expect(nic).toEqual({ mac: macFor(UUID), bridge: "orb-12", model: "virtio", ipAddress: "10.128.4.9", prefixLength: 24, gateway: "10.128.4.1", floatingIp: "203.0.113.5" });
    // Read as cloud-init reads it: YAML.
    expect(parse(networkConfigFor(nic, NET.nameservers))).toEqual({
      version: 2,
      ethernets: {
        eth0: {
          match: { macaddress: nic.mac }, "set-name": "eth0", dhcp4: false, addresses: ["10.128.4.9/24"],
          routes: [{ to: "default", via: "10.128.4.1" }], nameservers: { addresses: ["1.1.1.1"] },
        },
      },
    });
    expect(parse(networkConfigFor(vmNic(UUID, NET, "10.128.4.9", null), [])).ethernets.eth0.nameservers).toBeUndefined();
  });
});
