// A firewall as the manager sends it (proto FirewallSpec) checked into what drivers apply: each
// rule through the same checks as the API's, so a bad rule is refused before nft sees anything.
import { isIPv4 } from "node:net";
import { InvalidArgumentError } from "#shared/errors.js";
import type { FirewallSpec } from "#shared/protocol.js";
import { checkSecurityRule, MAX_SECURITY_RULES_PER_VM } from "#shared/security-rules.js";
import type { VmFirewall } from "../drivers/hypervisor.js";

export function checkFirewallSpec(spec: FirewallSpec, field: string): VmFirewall {
  if (spec.rules.length > MAX_SECURITY_RULES_PER_VM) {
    throw new InvalidArgumentError(`${field}.rules`, `at most ${MAX_SECURITY_RULES_PER_VM} security rules per VM; ${spec.rules.length} sent`);
  }
  const rules = spec.rules.map((r, i) => checkSecurityRule({
    direction: r.direction, ethertype: r.ethertype, protocol: r.protocol, remote_ip_prefix: r.remoteIpPrefix,
    // 0 is "no port" on the wire (proto3 has no absent integers).
    port_range_min: r.portRangeMin || undefined, port_range_max: r.portRangeMax || undefined,
  }, `${field}.rules[${i}]`));
  for (const [name, v] of [["private_ip", spec.privateIp], ["floating_ip", spec.floatingIp]] as const) {
    if (v && !isIPv4(v)) throw new InvalidArgumentError(`${field}.${name}`, `not an IPv4 address: ${JSON.stringify(v)}`);
  }
  if (spec.floatingIp && !spec.privateIp) {
    throw new InvalidArgumentError(`${field}.private_ip`, "a floating IP is NATed to the VM's private IP, which the spec does not give");
  }
  return { rules, ...(spec.privateIp ? { privateIp: spec.privateIp } : {}), ...(spec.floatingIp ? { floatingIp: spec.floatingIp } : {}) };
}
