// Builds the nftables transaction (libnftables JSON, `nft -j -f -`) that enforces one VM's
// security rules on its tap and NATs its floating IP. Pure: the same input gives the same
// ruleset, so tests can assert its structure and the applier (nft-firewall.ts) only runs it.
//
// Every VM's tap is a port of its network's Linux bridge, so traffic between VMs of a network (and
// from anything else on the bridge) is bridged: the ip/inet hooks never see it unless br_netfilter
// is in use, which Orbit does not rely on. The filter is therefore a `bridge` family table, which
// sees each frame with the port it enters or leaves by:
//   table bridge orbit      chain forward (hook forward): oifname vmap @vm_ingress, iifname vmap @vm_egress
//                           chain output  (hook output):  oifname vmap @vm_ingress  (host or routed -> VM)
//                           chain input   (hook input):   iifname vmap @vm_egress   (VM -> host or routed)
//                           chains vm-<uuid>-in / vm-<uuid>-out: ARP/ND, replies, the rules, drop
//                           (-out allows with `return`, so a VM-to-VM frame meets both VMs' chains)
//                           sets vm-<uuid>-flows4 / -flows6: the VM's allowed TCP/UDP flows
//   table ip orbit_nat      chain prerouting (dnat): ip daddr vmap @floating_dnat
//                           chain postrouting (snat): ip saddr vmap @private_snat
//                           chains vm-<uuid>-dnat / vm-<uuid>-snat: one dnat / snat statement
// Replies are let back by the flow sets, not `ct state`: conntrack in the bridge family needs
// nf_conntrack_bridge, which kernels may lack (CONFIG_NF_CONNTRACK_BRIDGE unset), and nft then
// refuses the whole transaction. A packet a rule accepts records its 5-tuple (idle timeout
// FLOW_TIMEOUT_S); the other direction accepts what matches a recorded tuple. ICMP answers and
// errors pass statelessly. NAT needs the host's IP stack: a floating IP is DNATed only when the
// public address is routed to the host (see agent/src/drivers/README.md); the bridge output/input
// hooks then filter the translated packets on the tap like any other.
// A VM's chains are flushed and refilled in one transaction, and the shared chains are only ever
// refilled with the same dispatch rules, so applying one VM never disturbs another's traffic.
// Its flow sets survive a re-apply (as conntrack entries would): open flows are not cut.
// Traffic to or from anything that is not a VM's tap is accepted as before (the maps miss).
// The base chains hook in at BRIDGE_FILTER_PRIORITY (-200, nft's "filter" for the bridge family),
// before br_netfilter's hooks (priority 0), never at 0: see BRIDGE_FILTER_PRIORITY.
import { isIPv4 } from "node:net";
import { InvalidArgumentError } from "#shared/errors.js";
import { checkSecurityRule, SECURITY_RULE_PROTOCOL_NUMBERS, type SecurityRule } from "#shared/security-rules.js";

/** Tables as libnftables names them in objects inside them (a chain, map, element: family + table). */
export const FILTER_TABLE = { family: "bridge", table: "orbit" } as const;
export const NAT_TABLE = { family: "ip", table: "orbit_nat" } as const;
export const INGRESS_MAP = "vm_ingress";
export const EGRESS_MAP = "vm_egress";
export const DNAT_MAP = "floating_dnat";
export const SNAT_MAP = "private_snat";
/**
 * The priority of the bridge table's base chains: nft's "filter" for the bridge family, below
 * br_netfilter's NF_BR_PRI_BRNF (0). Where br_netfilter is loaded and bridge-nf-call-iptables is 1
 * (its default; libvirt and Docker hosts have it so), its forward hook takes every bridged IP
 * packet at priority 0 through the iptables hooks and then re-injects it past ALL priority-0 bridge
 * hooks (br_nf_hook_thresh). A chain at 0 that runs after it (br_netfilter hooked in later: it does
 * so on a namespace's first bridge, and a hook goes before those of equal priority) never sees IP
 * traffic between ports: real guests on one bridge pinged each other through chains ending in drop.
 */
export const BRIDGE_FILTER_PRIORITY = -200;
/** The shared base chains of the filter table (each hooks in where it is named). */
export const FILTER_BASE_CHAINS = ["forward", "output", "input"] as const;
/** Idle seconds after which a recorded flow is forgotten (its replies then need a rule). */
export const FLOW_TIMEOUT_S = 3600;
/** The most flows one VM's set records per IP family; beyond it, new flows are dropped. */
export const FLOW_SET_SIZE = 65535;

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
  family: NftFamily;
  table: string;
  map: string;
  key: string;
}

export type NftFamily = "bridge" | "ip";
/** A chain or set of a table, as removal names it. */
export interface NftObjectRef { family: NftFamily; table: string; name: string }

// Only the libnftables JSON this module writes; nft checks the rest.
type Json = Record<string, unknown>;
export interface NftRuleset { nftables: Json[] }

export function vmChainNames(vmUuid: string): { in: string; out: string; dnat: string; snat: string; flows4: string; flows6: string } {
  const id = vmUuid.toLowerCase();
  if (!/^[0-9a-f-]{1,64}$/.test(id)) throw new InvalidArgumentError("vm_uuid", `not a VM uuid: ${JSON.stringify(vmUuid)}`);
  return { in: `vm-${id}-in`, out: `vm-${id}-out`, dnat: `vm-${id}-dnat`, snat: `vm-${id}-snat`, flows4: `vm-${id}-flows4`, flows6: `vm-${id}-flows6` };
}

/** Linux interface names: 1-15 characters, no slash, whitespace or colon. */
const IFNAME_RE = /^[A-Za-z0-9_.-]{1,15}$/;

/**
 * The transaction that makes the host enforce `input`: creates the shared tables, chains and maps
 * if missing, replaces this VM's chains and map elements. `stale` are elements of an earlier apply
 * whose keys changed (another floating IP, another tap): deleted in the same transaction.
 * `existingSets` are the names of this VM's flow sets already on the host: kept as they are.
 * `outdatedBaseChains` are shared base chains on the host at another priority than
 * BRIDGE_FILTER_PRIORITY (made by an earlier agent): nft cannot change a chain's priority, so
 * they are deleted and made again, in the same transaction.
 */
export function buildVmFirewall(
  input: VmFirewallInput, stale: readonly StaleElement[] = [], existingSets: readonly string[] = [], outdatedBaseChains: readonly string[] = [],
): NftRuleset {
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
    ...filterSkeleton(outdatedBaseChains),
    ...(floatingIp !== undefined ? natSkeleton() : []),
    ...stale.map((s) => ({ delete: { element: { family: s.family, table: s.table, name: s.map, elem: [s.key] } } })),
    // Created once, never flushed: a re-apply keeps the open flows. Not re-added either: the
    // kernel marks a set its rules update as dynamic, which nft 1.0's JSON cannot say, so an
    // `add set` of the same set would then differ from it and be refused (EEXIST).
    ...[flowSet(names.flows4, "ipv4_addr"), flowSet(names.flows6, "ipv6_addr")].filter((c) => !existingSets.includes(c.add.set.name)),
    ...replaceChain(f, names.in, ingressRules(rules, privateIp, names)),
    ...replaceChain(f, names.out, egressRules(rules, names)),
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
 * host), then its chains and sets (those that exist). Empty when nothing is left of it.
 */
export function buildVmFirewallRemoval(elements: readonly StaleElement[], chains: readonly NftObjectRef[], sets: readonly NftObjectRef[] = []): NftRuleset {
  return {
    nftables: [
      ...elements.map((s) => ({ delete: { element: { family: s.family, table: s.table, name: s.map, elem: [s.key] } } })),
      // A chain must be empty to be deleted: flush it in the same transaction.
      ...chains.flatMap((c) => [{ flush: { chain: c } }, { delete: { chain: c } }]),
      // After the chains: a set is deleted only once no rule refers to it.
      ...sets.map((s) => ({ delete: { set: s } })),
    ],
  };
}

function filterSkeleton(outdatedBaseChains: readonly string[]): Json[] {
  const f = FILTER_TABLE;
  const base = (hook: (typeof FILTER_BASE_CHAINS)[number]) => ({ type: "filter", hook, prio: BRIDGE_FILTER_PRIORITY, policy: "accept" });
  return [
    { add: { table: { family: f.family, name: f.table } } },
    ...outdatedBaseChains.filter((c) => (FILTER_BASE_CHAINS as readonly string[]).includes(c))
      .flatMap((name) => [{ flush: { chain: { ...f, name } } }, { delete: { chain: { ...f, name } } }]),
    { add: { map: { ...f, name: INGRESS_MAP, type: "ifname", map: "verdict" } } },
    { add: { map: { ...f, name: EGRESS_MAP, type: "ifname", map: "verdict" } } },
    // Policy accept: the host's own and non-VM traffic is not this table's business.
    // forward: bridged between ports (VM to VM, uplink port to VM).
    // The sender's chain first: between two VMs a frame needs the sender's egress and the
    // receiver's ingress, so the -out chains allow with `return` (on to the next rule) and only
    // the -in chains end the hook with accept.
    ...replaceChain(f, "forward", [[fromVm], [toVm]], base("forward")),
    // output / input: sent by the host's IP stack through the bridge (routed, DNATed) / to it.
    ...replaceChain(f, "output", [[toVm]], base("output")),
    ...replaceChain(f, "input", [[fromVm]], base("input")),
  ];
}

const toVm = { vmap: { key: { meta: { key: "oifname" } }, data: `@${INGRESS_MAP}` } };
const fromVm = { vmap: { key: { meta: { key: "iifname" } }, data: `@${EGRESS_MAP}` } };

function flowSet(name: string, addr: "ipv4_addr" | "ipv6_addr"): { add: { set: Json & { name: string } } } {
  return {
    add: {
      set: {
        ...FILTER_TABLE, name, type: [addr, addr, "inet_proto", "inet_service", "inet_service"],
        flags: ["timeout"], timeout: FLOW_TIMEOUT_S, size: FLOW_SET_SIZE,
      },
    },
  };
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
const RETURN = { return: null };
const DROP = { drop: null };
/** The verdict that lets a packet pass one end's chain: see filterSkeleton for why egress returns. */
const allow = (vm: VmEnd) => (vm === "dst" ? ACCEPT : RETURN);

/** Which end of a packet is the VM: "dst" for packets to it (ingress), "src" for its own. */
type VmEnd = "dst" | "src";
type FlowSets = { flows4: string; flows6: string };

/** The 5-tuple of a packet oriented remote -> VM, so both directions of a flow give the same key. */
function flowKey(v4: boolean, vm: VmEnd): Json {
  const ip = v4 ? "ip" : "ip6";
  const [remote, local, rport, lport] = vm === "dst" ? ["saddr", "daddr", "sport", "dport"] : ["daddr", "saddr", "dport", "sport"];
  return { concat: [payload(ip, remote!), payload(ip, local!), { meta: { key: "l4proto" } }, payload("th", rport!), payload("th", lport!)] };
}

const TRACKED = { match: { op: "==", left: { meta: { key: "l4proto" } }, right: { set: ["tcp", "udp"] } } };

/**
 * What passes whatever the rules: ARP and IPv6 neighbour discovery (without them nothing on the
 * segment can reach the VM), packets of a recorded flow, and ICMP answers and errors.
 */
function alwaysAllowed(vm: VmEnd, sets: FlowSets): Json[][] {
  const ok = allow(vm);
  const replies = ([[true, sets.flows4], [false, sets.flows6]] as const).map(([v4, set]) => [
    match({ meta: { key: "protocol" } }, v4 ? "ip" : "ip6"), TRACKED,
    match(flowKey(v4, vm), `@${set}`), { set: { op: "update", elem: flowKey(v4, vm), set: `@${set}` } }, ok,
  ]);
  return [
    [match({ meta: { key: "protocol" } }, "arp"), ok],
    [match(payload("icmpv6", "type"), { set: ["nd-router-solicit", "nd-router-advert", "nd-neighbor-solicit", "nd-neighbor-advert"] }), ok],
    ...replies,
    [match(payload("icmp", "type"), { set: ["echo-reply", "destination-unreachable", "time-exceeded", "parameter-problem"] }), ok],
    [match(payload("icmpv6", "type"), { set: ["echo-reply", "destination-unreachable", "packet-too-big", "time-exceeded", "parameter-problem"] }), ok],
  ];
}

/** One rule's accept; TCP/UDP packets it accepts also record their flow so replies come back. */
function ruleAccepts(r: SecurityRule, vm: VmEnd, sets: FlowSets, extra: Json[]): Json[][] {
  const v4 = r.ethertype === "IPv4";
  const matches = [...extra, ...ruleMatches(r, vm === "dst" ? "saddr" : "daddr")];
  const record = { set: { op: "update", elem: flowKey(v4, vm), set: `@${v4 ? sets.flows4 : sets.flows6}` } };
  const proto = SECURITY_RULE_PROTOCOL_NUMBERS[r.protocol];
  const ok = allow(vm);
  if (proto === 6 || proto === 17) return [[...matches, record, ok]];
  // Any protocol: record TCP and UDP (their ports make a flow), let the rest through unrecorded.
  if (proto === null) return [[...matches, TRACKED, record, ok], [...matches, ok]];
  return [[...matches, ok]];
}

function ingressRules(rules: readonly SecurityRule[], privateIp: string | undefined, sets: FlowSets): Json[][] {
  const toVmIp = privateIp !== undefined ? [match(payload("ip", "daddr"), privateIp)] : [];
  return [
    ...alwaysAllowed("dst", sets),
    ...rules.filter((r) => r.direction === "ingress").flatMap((r) => ruleAccepts(r, "dst", sets, r.ethertype === "IPv4" ? toVmIp : [])),
    [DROP],
  ];
}

function egressRules(rules: readonly SecurityRule[], sets: FlowSets): Json[][] {
  return [...alwaysAllowed("src", sets), ...rules.filter((r) => r.direction === "egress").flatMap((r) => ruleAccepts(r, "src", sets, [])), [DROP]];
}

/** The matches of one rule; `remote` is the remote end's address field (saddr in, daddr out). */
function ruleMatches(r: SecurityRule, remote: "saddr" | "daddr"): Json[] {
  const v4 = r.ethertype === "IPv4";
  // The frame's ethertype: in the bridge family `meta nfproto` is "bridge" for every packet.
  const out: Json[] = [match({ meta: { key: "protocol" } }, v4 ? "ip" : "ip6")];
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
