// A VM's stored rules as the agent's FirewallSpec (proto), in the start spec and in ApplyFirewall.
import type { FirewallSpec } from "#shared/protocol.js";
import type { SecurityRule } from "#shared/security-rules.js";

/** The VM's addresses as far as the manager knows them ("" or absent: not known, rules by interface only). */
export interface VmAddresses {
  privateIp?: string | undefined;
  floatingIp?: string | undefined;
}

export function firewallSpec(rules: readonly SecurityRule[], addresses: VmAddresses = {}): FirewallSpec {
  return {
    rules: rules.map((r) => ({
      direction: r.direction, ethertype: r.ethertype, protocol: r.protocol, remoteIpPrefix: r.remoteIpPrefix,
      // 0 is "no port" on the wire.
      portRangeMin: r.portRangeMin ?? 0, portRangeMax: r.portRangeMax ?? 0,
    })),
    privateIp: addresses.privateIp ?? "",
    floatingIp: addresses.floatingIp ?? "",
  };
}
