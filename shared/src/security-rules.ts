// Security rules (Hyperstack's sg-rules, OpenStack security group semantics): each rule allows
// traffic in one direction; what no rule allows is dropped. The manager checks them at the API,
// the agent again before it builds a firewall from them: both use this one definition.
import { isIPv4, isIPv6 } from "node:net";
import { InvalidArgumentError } from "./errors.js";

/** The protocols Hyperstack accepts in a rule, with their IP protocol numbers (null: every protocol). */
export const SECURITY_RULE_PROTOCOL_NUMBERS = {
  any: null, ah: 51, dccp: 33, egp: 8, esp: 50, gre: 47, hopopt: 0, icmp: 1, igmp: 2,
  // "ip" is the IP layer itself, so it matches like "any" (OpenStack's own reading of it).
  ip: null, ipip: 4, "ipv6-encap": 41, "ipv6-frag": 44, "ipv6-icmp": 58, icmpv6: 58, "ipv6-nonxt": 59,
  "ipv6-opts": 60, "ipv6-route": 43, ospf: 89, pgm: 113, rsvp: 46, sctp: 132, tcp: 6, udp: 17,
  udplite: 136, vrrp: 112,
} as const satisfies Record<string, number | null>;
export type SecurityRuleProtocol = keyof typeof SECURITY_RULE_PROTOCOL_NUMBERS;
export const SECURITY_RULE_PROTOCOLS = Object.keys(SECURITY_RULE_PROTOCOL_NUMBERS) as SecurityRuleProtocol[];

/** The protocols whose headers carry ports (a port range means something only for these). */
export const PORT_PROTOCOLS: readonly SecurityRuleProtocol[] = ["tcp", "udp", "sctp", "dccp", "udplite"];
const ICMPV6: readonly SecurityRuleProtocol[] = ["ipv6-icmp", "icmpv6"];

/** The most rules one VM may have (the manager's limit, and its create's). */
export const MAX_SECURITY_RULES_PER_VM = 100;

export type SecurityRuleDirection = "ingress" | "egress";
export type SecurityRuleEthertype = "IPv4" | "IPv6";

/** A rule as checked: ports both set or both absent, the prefix in the rule's IP family. */
export interface SecurityRule {
  direction: SecurityRuleDirection;
  ethertype: SecurityRuleEthertype;
  protocol: SecurityRuleProtocol;
  /** CIDR; a bare address is a /32 (/128). */
  remoteIpPrefix: string;
  portRangeMin?: number | undefined;
  portRangeMax?: number | undefined;
}

/** A rule as a client sends it (Hyperstack's field names), not yet checked. */
export interface SecurityRuleInput {
  direction: string;
  ethertype: string;
  protocol: string;
  remote_ip_prefix: string;
  port_range_min?: number | null | undefined;
  port_range_max?: number | null | undefined;
}

/** The rule, checked; InvalidArgumentError naming the field (prefixed by `field`) otherwise. */
export function checkSecurityRule(r: SecurityRuleInput, field = ""): SecurityRule {
  const f = (name: string): string => (field ? `${field}.${name}` : name);
  const direction = r.direction.toLowerCase();
  if (direction !== "ingress" && direction !== "egress") {
    throw new InvalidArgumentError(f("direction"), `direction must be ingress or egress, not ${JSON.stringify(r.direction)}`);
  }
  const ethertype = r.ethertype.toLowerCase() === "ipv4" ? "IPv4" : r.ethertype.toLowerCase() === "ipv6" ? "IPv6" : undefined;
  if (!ethertype) throw new InvalidArgumentError(f("ethertype"), `ethertype must be IPv4 or IPv6, not ${JSON.stringify(r.ethertype)}`);
  const protocol = r.protocol.toLowerCase();
  if (!Object.hasOwn(SECURITY_RULE_PROTOCOL_NUMBERS, protocol)) {
    throw new InvalidArgumentError(f("protocol"), `unknown protocol ${JSON.stringify(r.protocol)} (GET /v1/core/sg-rules-protocols lists them)`);
  }
  const proto = protocol as SecurityRuleProtocol;
  if (ethertype === "IPv4" && ICMPV6.includes(proto)) {
    throw new InvalidArgumentError(f("protocol"), `${proto} is an IPv6 protocol; the rule's ethertype is IPv4`);
  }
  const remoteIpPrefix = checkPrefix(r.remote_ip_prefix, ethertype, f("remote_ip_prefix"));
  const min = r.port_range_min ?? undefined;
  const max = r.port_range_max ?? undefined;
  if (min === undefined && max === undefined) return { direction, ethertype, protocol: proto, remoteIpPrefix };
  if (!PORT_PROTOCOLS.includes(proto)) {
    throw new InvalidArgumentError(f(min !== undefined ? "port_range_min" : "port_range_max"), `ports apply only to ${PORT_PROTOCOLS.join(", ")}; the rule's protocol is ${proto}`);
  }
  for (const [name, v] of [["port_range_min", min], ["port_range_max", max]] as const) {
    if (v !== undefined && (!Number.isInteger(v) || v < 1 || v > 65535)) {
      throw new InvalidArgumentError(f(name), `${name} must be a port, 1-65535; got ${v}`);
    }
  }
  const lo = min ?? max!;
  const hi = max ?? min!;
  if (lo > hi) throw new InvalidArgumentError(f("port_range_min"), `port_range_min (${lo}) is greater than port_range_max (${hi})`);
  return { direction, ethertype, protocol: proto, remoteIpPrefix, portRangeMin: lo, portRangeMax: hi };
}

/** "a.b.c.d/n" (or "x::/n") in the given family, normalised to carry its prefix length. */
function checkPrefix(prefix: string, ethertype: SecurityRuleEthertype, field: string): string {
  const [addr = "", len, ...rest] = prefix.trim().split("/");
  const v4 = isIPv4(addr);
  const bits = v4 ? 32 : 128;
  if ((!v4 && !isIPv6(addr)) || rest.length > 0 || (len !== undefined && !/^\d{1,3}$/.test(len)) || Number(len ?? bits) > bits) {
    throw new InvalidArgumentError(field, `not an IP address or CIDR prefix: ${JSON.stringify(prefix)}`);
  }
  if (v4 !== (ethertype === "IPv4")) {
    throw new InvalidArgumentError(field, `${prefix} is not an ${ethertype} prefix, as the rule's ethertype says`);
  }
  return `${addr}/${Number(len ?? bits)}`;
}
