// Builds the nftables transaction (libnftables JSON, `nft -j -f -`) that enforces one VM's
// security rules on its tap and NATs its floating IP. Pure: the same input gives the same
// ruleset, so tests can assert its structure and the applier (nft-firewall.ts) only runs it.
//
// Layout, shared by every VM on the host:
//   table inet orbit        chain forward (hook forward): oifname vmap @vm_ingress, iifname vmap @vm_egress
//                           chains vm-<uuid>-in / vm-<uuid>-out: established/related, the rules, drop
//   table ip orbit_nat      chain prerouting (dnat): ip daddr vmap @floating_dnat
//                           chain postrouting (snat): ip saddr vmap @private_snat
//                           chains vm-<uuid>-dnat / vm-<uuid>-snat: one dnat / snat statement
// A VM's chains are flushed and refilled in one transaction, and the shared chains are only ever
// refilled with the same dispatch rules, so applying one VM never disturbs another's traffic.
// Traffic to or from anything that is not a VM's tap is accepted as before (the maps miss).
import { isIPv4 } from "node:net";
import { InvalidArgumentError } from "#shared/errors.js";
import { checkSecurityRule, SECURITY_RULE_PROTOCOL_NUMBERS, type SecurityRule } from "#shared/security-rules.js";

/** Tables as libnftables names them in objects inside them (a chain, map, element: family + table). */
export const FILTER_TABLE = { family: "inet", table: "orbit" } as const;
export const NAT_TABLE = { family: "ip", table: "orbit_nat" } as const;
export const INGRESS_MAP = "vm_ingress";
export const EGRESS_MAP = "vm_egress";
export const DNAT_MAP = "floating_dnat";
export const SNAT_MAP = "private_snat";

export interface VmFirewallInput {
  vmUuid: string;
  /** The host-side interface of the VM's NIC (a tap, or a veth end standing in for one). */
  tapInterface: string;
  /** The VM's address; when known, ingress is also limited to packets addressed to it. */
  privateIp?: string | undefined;
  /** The allow rules; checked again here (checkSecurityRule), so no bad rule reaches nft. */
  rules: readonly SecurityRule[];
  /** Public IPv4 NATed to privateIp (which it needs). */
  floatingIp?: string | undefined;
}

/** A map element a previous apply left (read back from the host) that this one must delete first. */
export interface StaleElement {
  family: "inet" | "ip";
  table: string;
  map: string;
  key: string;
}

// Only the libnftables JSON this module writes; nft checks the rest.
type Json = Record<string, unknown>;
export interface NftRuleset { nftables: Json[] }

export function vmChainNames(vmUuid: string): { in: string; out: string; dnat: string; snat: string } {
  const id = vmUuid.toLowerCase();
  if (!/^[0-9a-f-]{1,64}$/.test(id)) throw new InvalidArgumentError("vm_uuid", `not a VM uuid: ${JSON.stringify(vmUuid)}`);
  return { in: `vm-${id}-in`, out: `vm-${id}-out`, dnat: `vm-${id}-dnat`, snat: `vm-${id}-snat` };
}

/** Linux interface names: 1-15 characters, no slash, whitespace or colon. */
const IFNAME_RE = /^[A-Za-z0-9_.-]{1,15}$/;

/**
 * The transaction that makes the host enforce `input`: creates the shared tables, chains and maps
 * if missing, replaces this VM's chains and map elements. `stale` are elements of an earlier apply
 * whose keys changed (another floating IP, another tap): deleted in the same transaction.
 */
export function buildVmFirewall(input: VmFirewallInput, stale: readonly StaleElement[] = []): NftRuleset {
  const { vmUuid, tapInterface, privateIp, floatingIp } = input;
  const names = vmChainNames(vmUuid);
  const rules = input.rules.map((r, i) => checkSecurityRule({
    direction: r.direction, ethertype: r.ethertype, protocol: r.protocol, remote_ip_prefix: r.remoteIpPrefix,
    port_range_min: r.portRangeMin, port_range_max: r.portRangeMax,
  }, `rules[${i}]`));
  if (!IFNAME_RE.test(tapInterface)) throw new InvalidArgumentError("tap_interface", `not an interface name: ${JSON.stringify(tapInterface)}`);
  if (privateIp !== undefined && !isIPv4(privateIp)) throw new InvalidArgumentError("private_ip", `not an IPv4 address: ${JSON.stringify(privateIp)}`);
  if (floatingIp !== undefined) {
    if (!isIPv4(floatingIp)) throw new InvalidArgumentError("floating_ip", `not an IPv4 address: ${JSON.stringify(floatingIp)}`);
    if (privateIp === undefined) throw new InvalidArgumentError("private_ip", "a floating IP is NATed to the VM's private IP, which is not known");
  }
  const f = FILTER_TABLE;
  const n = NAT_TABLE;
  const cmds: Json[] = [
    ...filterSkeleton(),
    ...(floatingIp !== undefined ? natSkeleton() : []),
    ...stale.map((s) => ({ delete: { element: { family: s.family, table: s.table, name: s.map, elem: [s.key] } } })),
    ...replaceChain(f, names.in, ingressRules(rules, privateIp)),
    ...replaceChain(f, names.out, egressRules(rules)),
    { add: { element: { ...f, name: INGRESS_MAP, elem: [[tapInterface, { jump: { target: names.in } }]] } } },
    { add: { element: { ...f, name: EGRESS_MAP, elem: [[tapInterface, { jump: { target: names.out } }]] } } },
  ];
  if (floatingIp !== undefined && privateIp !== undefined) {
    cmds.push(
      ...replaceChain(n, names.dnat, [[{ dnat: { family: "ip", addr: privateIp } }]]),
      ...replaceChain(n, names.snat, [[{ snat: { family: "ip", addr: floatingIp } }]]),
      { add: { element: { ...n, name: DNAT_MAP, elem: [[floatingIp, { jump: { target: names.dnat } }]] } } },
      { add: { element: { ...n, name: SNAT_MAP, elem: [[privateIp, { jump: { target: names.snat } }]] } } },
    );
  }
  return { nftables: cmds };
}

/**
 * The transaction that removes a VM's firewall: its map elements (`elements`, read back from the
 * host), then its chains (`chains`: those that exist). Empty when nothing is left of it.
 */
export function buildVmFirewallRemoval(elements: readonly StaleElement[], chains: readonly { family: "inet" | "ip"; table: string; name: string }[]): NftRuleset {
  return {
    nftables: [
      ...elements.map((s) => ({ delete: { element: { family: s.family, table: s.table, name: s.map, elem: [s.key] } } })),
      // A chain must be empty to be deleted: flush it in the same transaction.
      ...chains.flatMap((c) => [{ flush: { chain: c } }, { delete: { chain: c } }]),
    ],
  };
}

function filterSkeleton(): Json[] {
  const f = FILTER_TABLE;
  return [
    { add: { table: { family: f.family, name: f.table } } },
    { add: { map: { ...f, name: INGRESS_MAP, type: "ifname", map: "verdict" } } },
    { add: { map: { ...f, name: EGRESS_MAP, type: "ifname", map: "verdict" } } },
    // Policy accept: the host's own and non-VM traffic is not this table's business.
    ...replaceChain(f, "forward", [
      [{ vmap: { key: { meta: { key: "oifname" } }, data: `@${INGRESS_MAP}` } }],
      [{ vmap: { key: { meta: { key: "iifname" } }, data: `@${EGRESS_MAP}` } }],
    ], { type: "filter", hook: "forward", prio: 0, policy: "accept" }),
  ];
}

function natSkeleton(): Json[] {
  const n = NAT_TABLE;
  return [
    { add: { table: { family: n.family, name: n.table } } },
    { add: { map: { ...n, name: DNAT_MAP, type: "ipv4_addr", map: "verdict" } } },
    { add: { map: { ...n, name: SNAT_MAP, type: "ipv4_addr", map: "verdict" } } },
    ...replaceChain(n, "prerouting", [[{ vmap: { key: payload("ip", "daddr"), data: `@${DNAT_MAP}` } }]],
      { type: "nat", hook: "prerouting", prio: -100, policy: "accept" }),
    ...replaceChain(n, "postrouting", [[{ vmap: { key: payload("ip", "saddr"), data: `@${SNAT_MAP}` } }]],
      { type: "nat", hook: "postrouting", prio: 100, policy: "accept" }),
  ];
}

/** add (if missing) + flush + the rules: the chain ends up exactly `rules`, atomically. */
function replaceChain(table: { family: string; table: string }, name: string, rules: Json[][], base?: Json): Json[] {
  const chain = { ...table, name };
  return [
    { add: { chain: { ...chain, ...base } } },
    { flush: { chain } },
    ...rules.map((expr) => ({ add: { rule: { ...table, chain: name, expr } } })),
  ];
}

const ACCEPT = { accept: null };
const DROP = { drop: null };

function established(): Json[] {
  return [{ match: { op: "in", left: { ct: { key: "state" } }, right: ["established", "related"] } }, ACCEPT];
}

function ingressRules(rules: readonly SecurityRule[], privateIp: string | undefined): Json[][] {
  const toVm = privateIp !== undefined ? [match(payload("ip", "daddr"), privateIp)] : [];
  return [
    established(),
    ...rules.filter((r) => r.direction === "ingress").map((r) => [...(r.ethertype === "IPv4" ? toVm : []), ...ruleMatches(r, "saddr"), ACCEPT]),
    [DROP],
  ];
}

function egressRules(rules: readonly SecurityRule[]): Json[][] {
  return [established(), ...rules.filter((r) => r.direction === "egress").map((r) => [...ruleMatches(r, "daddr"), ACCEPT]), [DROP]];
}

/** The matches of one rule; `remote` is the remote end's address field (saddr in, daddr out). */
function ruleMatches(r: SecurityRule, remote: "saddr" | "daddr"): Json[] {
  const v4 = r.ethertype === "IPv4";
  const out: Json[] = [match({ meta: { key: "nfproto" } }, v4 ? "ipv4" : "ipv6")];
  let proto: number | null = SECURITY_RULE_PROTOCOL_NUMBERS[r.protocol];
  if (proto === 1 && !v4) proto = 58; // "icmp" in an IPv6 rule is ICMPv6, as OpenStack reads it
  if (proto !== null) out.push(match({ meta: { key: "l4proto" } }, proto));
  const [addr = "", len = "0"] = r.remoteIpPrefix.split("/");
  if (Number(len) > 0) out.push(match(payload(v4 ? "ip" : "ip6", remote), { prefix: { addr, len: Number(len) } }));
  if (r.portRangeMin !== undefined && r.portRangeMax !== undefined) {
    out.push(match(payload("th", "dport"), r.portRangeMin === r.portRangeMax ? r.portRangeMin : { range: [r.portRangeMin, r.portRangeMax] }));
  }
  return out;
}

function payload(protocol: string, field: string): Json {
  return { payload: { protocol, field } };
}

function match(left: Json, right: unknown): Json {
  return { match: { op: "==", left, right } };
}
