import { describe, expect, it } from "vitest";
import { InvalidArgumentError } from "#shared/errors.js";
import { checkSecurityRule, type SecurityRuleInput } from "#shared/security-rules.js";
import { buildVmFirewall, buildVmFirewallRemoval, FLOW_TIMEOUT_S, vmChainNames } from "./vm-firewall.js";

const VM = "0f0e0d0c-aaaa-bbbb-cccc-000000000001";
const rule = (r: Partial<SecurityRuleInput>) =>
  checkSecurityRule({ direction: "ingress", ethertype: "IPv4", protocol: "tcp", remote_ip_prefix: "0.0.0.0/0", ...r });

type Cmd = Record<string, Record<string, Record<string, unknown>>>;
const cmds = (rs: { nftables: unknown[] }) => rs.nftables as Cmd[];
/** The rules added to one chain, in order, as their expression lists. */
const rulesOf = (rs: { nftables: unknown[] }, chain: string) =>
  cmds(rs).filter((c) => c.add?.rule?.chain === chain).map((c) => c.add!.rule!.expr as Record<string, unknown>[]);

describe("buildVmFirewall", () => {
  const names = vmChainNames(VM);

  /** ARP, neighbour discovery, tracked replies (v4, v6), ICMP answers (v4, v6): before any rule. */
  const FIXED = 6;
  const protocolIs = (p: string) => ({ match: { op: "==", left: { meta: { key: "protocol" } }, right: p } });
  const l4Is = (p: number) => ({ match: { op: "==", left: { meta: { key: "l4proto" } }, right: p } });
  const tracked = { match: { op: "==", left: { meta: { key: "l4proto" } }, right: { set: ["tcp", "udp"] } } };
  const p = (protocol: string, field: string) => ({ payload: { protocol, field } });
  /** The flow key oriented remote -> VM: as read from a packet to the VM, and from one of the VM's. */
  const keyToVm = { concat: [p("ip", "saddr"), p("ip", "daddr"), { meta: { key: "l4proto" } }, p("th", "sport"), p("th", "dport")] };
  const keyFromVm = { concat: [p("ip", "daddr"), p("ip", "saddr"), { meta: { key: "l4proto" } }, p("th", "dport"), p("th", "sport")] };

  it("fills a bridge-family table: forward, output and input hooks dispatch on the tap", () => {
    const rs = buildVmFirewall({ vmUuid: VM, tapInterface: "tap0", rules: [] });
    expect(cmds(rs)[0]).toEqual({ add: { table: { family: "bridge", name: "orbit" } } });
    const toVm = [{ vmap: { key: { meta: { key: "oifname" } }, data: "@vm_ingress" } }];
    const fromVm = [{ vmap: { key: { meta: { key: "iifname" } }, data: "@vm_egress" } }];
    // forward: the sender's chain before the receiver's, so VM-to-VM frames meet both.
    for (const [hook, rules] of [["forward", [fromVm, toVm]], ["output", [toVm]], ["input", [fromVm]]] as const) {
      // Below br_netfilter's 0, whose forward hook re-injects IP packets past every priority-0 hook.
      expect(cmds(rs)).toContainEqual({ add: { chain: { family: "bridge", table: "orbit", name: hook, type: "filter", hook, prio: -200, policy: "accept" } } });
      expect(rulesOf(rs, hook)).toEqual(rules);
    }
    // No inet table: bridged frames never reach it (without br_netfilter).
    expect(JSON.stringify(rs)).not.toContain("\"inet\"");
  });

  it("deletes base chains an earlier agent hooked in at another priority before making them again (nft cannot re-prioritise)", () => {
    const chain = (name: string) => ({ family: "bridge", table: "orbit", name });
    const fresh = buildVmFirewall({ vmUuid: VM, tapInterface: "tap0", rules: [] });
    expect(cmds(fresh).filter((c) => c.delete?.chain !== undefined)).toEqual([]);
    const rs = buildVmFirewall({ vmUuid: VM, tapInterface: "tap0", rules: [] }, [], [], ["forward", "input", "vm-not-a-base-chain"]);
    const forward = cmds(rs).findIndex((c) => c.delete?.chain?.name === "forward");
    expect(cmds(rs).slice(forward - 1, forward + 1)).toEqual([{ flush: { chain: chain("forward") } }, { delete: { chain: chain("forward") } }]);
    expect(cmds(rs).filter((c) => c.delete?.chain !== undefined).map((c) => c.delete!.chain!.name)).toEqual(["forward", "input"]);
    // Made again after the deletion, at the new priority, in the same transaction.
    const added = cmds(rs).findIndex((c) => c.add?.chain?.name === "forward");
    expect(added).toBeGreaterThan(forward);
    expect(cmds(rs)[added]!.add!.chain!.prio).toBe(-200);
    expect(rulesOf(rs, "forward")).toHaveLength(2);
  });

  it("creates the VM's flow sets (timeout, size) unless they exist, and never flushes them", () => {
    const set = (name: string, addr: string) => ({
      add: { set: { family: "bridge", table: "orbit", name, type: [addr, addr, "inet_proto", "inet_service", "inet_service"], flags: ["timeout"], timeout: FLOW_TIMEOUT_S, size: 65535 } },
    });
    const fresh = buildVmFirewall({ vmUuid: VM, tapInterface: "tap0", rules: [] });
    expect(cmds(fresh)).toContainEqual(set(names.flows4, "ipv4_addr"));
    expect(cmds(fresh)).toContainEqual(set(names.flows6, "ipv6_addr"));
    const again = buildVmFirewall({ vmUuid: VM, tapInterface: "tap0", rules: [] }, [], [names.flows4, names.flows6]);
    expect(cmds(again).filter((c) => c.add?.set !== undefined)).toEqual([]);
    expect(JSON.stringify(cmds(again).filter((c) => c.flush !== undefined || c.delete !== undefined))).not.toContain("flows");
  });

  it("lets ARP, neighbour discovery, recorded flows and ICMP answers through before the rules", () => {
    const rs = buildVmFirewall({ vmUuid: VM, tapInterface: "tap0", rules: [] });
    const inRules = rulesOf(rs, names.in);
    expect(inRules[0]).toEqual([protocolIs("arp"), { accept: null }]);
    expect(JSON.stringify(inRules[1])).toContain("nd-neighbor-solicit");
    expect(inRules[2]).toEqual([protocolIs("ip"), tracked, { match: { op: "==", left: keyToVm, right: `@${names.flows4}` } }, { set: { op: "update", elem: keyToVm, set: `@${names.flows4}` } }, { accept: null }]);
    expect(JSON.stringify(inRules[3])).toContain(`@${names.flows6}`);
    expect(JSON.stringify(inRules[4])).toContain("echo-reply");
    // The VM's own packets look the flow up the other way round, and pass with return: the
    // receiver's chain (another VM's -in) still has its say.
    expect(rulesOf(rs, names.out)[2]).toEqual([protocolIs("ip"), tracked, { match: { op: "==", left: keyFromVm, right: `@${names.flows4}` } }, { set: { op: "update", elem: keyFromVm, set: `@${names.flows4}` } }, { return: null }]);
    expect(rulesOf(rs, names.out).slice(0, FIXED).map((r) => r.at(-1))).toEqual(Array(FIXED).fill({ return: null }));
    expect(rulesOf(rs, names.in).slice(0, FIXED).map((r) => r.at(-1))).toEqual(Array(FIXED).fill({ accept: null }));
    // No conntrack: nf_conntrack_bridge may be missing, and nft would then refuse everything.
    expect(JSON.stringify(rs)).not.toContain("\"ct\"");
  });

  it("flushes and refills the VM's chains: one accept per rule, recording TCP/UDP flows, drop last", () => {
    const rs = buildVmFirewall({
      vmUuid: VM, tapInterface: "tap0", privateIp: "10.0.0.2",
      rules: [
        rule({ port_range_min: 22, port_range_max: 22, remote_ip_prefix: "192.0.2.0/24" }),
        rule({ protocol: "udp", port_range_min: 1000, port_range_max: 2000 }),
        rule({ direction: "egress", protocol: "any" }),
        rule({ protocol: "gre" }),
      ],
    });
    const inRules = rulesOf(rs, names.in).slice(FIXED);
    expect(inRules).toHaveLength(4);
    expect(inRules[0]).toEqual([
      { match: { op: "==", left: p("ip", "daddr"), right: "10.0.0.2" } },
      protocolIs("ip"),
      l4Is(6),
      { match: { op: "==", left: p("ip", "saddr"), right: { prefix: { addr: "192.0.2.0", len: 24 } } } },
      { match: { op: "==", left: p("th", "dport"), right: 22 } },
      { set: { op: "update", elem: keyToVm, set: `@${names.flows4}` } },
      { accept: null },
    ]);
    expect(inRules[1]).toContainEqual({ match: { op: "==", left: p("th", "dport"), right: { range: [1000, 2000] } } });
    expect(inRules[1]).toContainEqual(l4Is(17));
    // 0.0.0.0/0 matches every source: no address match at all.
    expect(inRules[1]).not.toContainEqual(expect.objectContaining({ match: expect.objectContaining({ left: p("ip", "saddr") }) }));
    // GRE has no ports: accepted, not recorded.
    expect(inRules[2]).toEqual([{ match: { op: "==", left: p("ip", "daddr"), right: "10.0.0.2" } }, protocolIs("ip"), l4Is(47), { accept: null }]);
    expect(inRules[3]).toEqual([{ drop: null }]);
    // Any protocol: TCP/UDP recorded (so replies come back), everything else allowed.
    expect(rulesOf(rs, names.out).slice(FIXED)).toEqual([
      [protocolIs("ip"), tracked, { set: { op: "update", elem: keyFromVm, set: `@${names.flows4}` } }, { return: null }],
      [protocolIs("ip"), { return: null }],
      [{ drop: null }],
    ]);
    // Each VM chain is flushed before it is refilled, in the same transaction.
    const flushAt = cmds(rs).findIndex((c) => c.flush?.chain?.name === names.in);
    const firstRuleAt = cmds(rs).findIndex((c) => c.add?.rule?.chain === names.in);
    expect(flushAt).toBeGreaterThan(-1);
    expect(flushAt).toBeLessThan(firstRuleAt);
    expect(cmds(rs)).toContainEqual({ add: { element: { family: "bridge", table: "orbit", name: "vm_ingress", elem: [["tap0", { jump: { target: names.in } }]] } } });
    expect(cmds(rs)).toContainEqual({ add: { element: { family: "bridge", table: "orbit", name: "vm_egress", elem: [["tap0", { jump: { target: names.out } }]] } } });
  });

  it("with no rules denies every new connection both ways", () => {
    const rs = buildVmFirewall({ vmUuid: VM, tapInterface: "tap0", rules: [] });
    expect(rulesOf(rs, names.in)).toHaveLength(FIXED + 1);
    expect(rulesOf(rs, names.in)[FIXED]).toEqual([{ drop: null }]);
    expect(rulesOf(rs, names.out)[FIXED]).toEqual([{ drop: null }]);
    // No NAT table without a floating IP.
    expect(JSON.stringify(rs)).not.toContain("orbit_nat");
  });

  it("without a private IP filters by the tap alone", () => {
    const rs = buildVmFirewall({ vmUuid: VM, tapInterface: "tap0", rules: [rule({ port_range_min: 80, port_range_max: 80 })] });
    expect(rulesOf(rs, names.in)[FIXED]![0]).toEqual(protocolIs("ip"));
  });

  it("reads icmp in an IPv6 rule as ICMPv6 and matches IPv6 prefixes on ip6", () => {
    const rs = buildVmFirewall({
      vmUuid: VM, tapInterface: "tap0", privateIp: "10.0.0.2",
      rules: [rule({ ethertype: "IPv6", protocol: "icmp", remote_ip_prefix: "2001:db8::/32" })],
    });
    const r = rulesOf(rs, names.in)[FIXED]!;
    expect(r[0]).toEqual(protocolIs("ip6"));
    expect(r).toContainEqual({ match: { op: "==", left: { meta: { key: "l4proto" } }, right: 58 } });
    expect(r).toContainEqual({ match: { op: "==", left: { payload: { protocol: "ip6", field: "saddr" } }, right: { prefix: { addr: "2001:db8::", len: 32 } } } });
    // The private IPv4 address is no match for IPv6 packets.
    expect(JSON.stringify(r)).not.toContain("10.0.0.2");
  });

  it("NATs a floating IP: DNAT to the private IP, SNAT from it, in ip orbit_nat", () => {
    const rs = buildVmFirewall({ vmUuid: VM, tapInterface: "tap0", privateIp: "10.0.0.2", floatingIp: "203.0.113.5", rules: [] });
    expect(cmds(rs)).toContainEqual({ add: { chain: { family: "ip", table: "orbit_nat", name: "prerouting", type: "nat", hook: "prerouting", prio: -100, policy: "accept" } } });
    expect(rulesOf(rs, names.dnat)).toEqual([[{ dnat: { family: "ip", addr: "10.0.0.2" } }]]);
    expect(rulesOf(rs, names.snat)).toEqual([[{ snat: { family: "ip", addr: "203.0.113.5" } }]]);
    expect(cmds(rs)).toContainEqual({ add: { element: { family: "ip", table: "orbit_nat", name: "floating_dnat", elem: [["203.0.113.5", { jump: { target: names.dnat } }]] } } });
    expect(cmds(rs)).toContainEqual({ add: { element: { family: "ip", table: "orbit_nat", name: "private_snat", elem: [["10.0.0.2", { jump: { target: names.snat } }]] } } });
  });

  it("deletes stale elements before adding the new ones", () => {
    const rs = buildVmFirewall({ vmUuid: VM, tapInterface: "tap1", rules: [] }, [{ family: "bridge", table: "orbit", map: "vm_ingress", key: "tap0" }]);
    const del = cmds(rs).findIndex((c) => c.delete?.element !== undefined);
    const add = cmds(rs).findIndex((c) => c.add?.element?.name === "vm_ingress");
    expect(cmds(rs)[del]).toEqual({ delete: { element: { family: "bridge", table: "orbit", name: "vm_ingress", elem: ["tap0"] } } });
    expect(del).toBeLessThan(add);
  });

  it("refuses rules that were never checked: port_range_min above port_range_max, an unknown protocol", () => {
    const ssh = rule({ port_range_min: 22, port_range_max: 22 });
    const err = (rules: unknown[]) => {
      try { buildVmFirewall({ vmUuid: VM, tapInterface: "tap0", rules: rules as never }); } catch (e) { return e as InvalidArgumentError; }
      throw new Error("built");
    };
    const inverted = err([ssh, { ...ssh, portRangeMin: 2000, portRangeMax: 1000 }]);
    expect(inverted).toBeInstanceOf(InvalidArgumentError);
    expect(inverted.field).toBe("rules[1].port_range_min");
    expect(inverted.message).toBe("port_range_min (2000) is greater than port_range_max (1000)");
    const unknown = err([{ ...ssh, protocol: "quic-over-pigeon" }]);
    expect(unknown.field).toBe("rules[0].protocol");
    expect(unknown.message).toMatch(/unknown protocol "quic-over-pigeon"/);
  });

  it("refuses a floating IP without a private IP, and bad names and addresses", () => {
    expect(() => buildVmFirewall({ vmUuid: VM, tapInterface: "tap0", floatingIp: "203.0.113.5", rules: [] })).toThrow(/private IP/);
    expect(() => buildVmFirewall({ vmUuid: VM, tapInterface: "tap 0; drop", rules: [] })).toThrow(InvalidArgumentError);
    expect(() => buildVmFirewall({ vmUuid: VM, tapInterface: "tap0", privateIp: "10.0.0.300", rules: [] })).toThrow(/private_ip|IPv4/);
    expect(() => buildVmFirewall({ vmUuid: "x\"; flush ruleset", tapInterface: "tap0", rules: [] })).toThrow(InvalidArgumentError);
  });
});

describe("buildVmFirewallRemoval", () => {
  it("deletes the elements, then flushes and deletes each chain, then the sets its rules used", () => {
    const c = { family: "bridge" as const, table: "orbit", name: vmChainNames(VM).in };
    const set = { family: "bridge" as const, table: "orbit", name: vmChainNames(VM).flows4 };
    const rs = buildVmFirewallRemoval([{ family: "bridge", table: "orbit", map: "vm_ingress", key: "tap0" }], [c], [set]);
    expect(rs.nftables).toEqual([
      { delete: { element: { family: "bridge", table: "orbit", name: "vm_ingress", elem: ["tap0"] } } },
      { flush: { chain: c } },
      { delete: { chain: c } },
      { delete: { set } },
    ]);
  });
});

describe("checkSecurityRule", () => {
  const refusal = (r: Partial<SecurityRuleInput>): InvalidArgumentError => {
    try { rule(r); } catch (e) { if (e instanceof InvalidArgumentError) return e; throw e; }
    throw new Error("accepted");
  };

  it("refuses port_range_min greater than port_range_max, naming the field", () => {
    const e = refusal({ port_range_min: 2000, port_range_max: 1000 });
    expect(e.field).toBe("port_range_min");
    expect(e.message).toMatch(/2000.*greater.*1000/);
  });

  it("refuses an unknown protocol, a bad direction, ethertype or prefix, ports out of range or on icmp", () => {
    expect(refusal({ protocol: "carrier-pigeon" }).field).toBe("protocol");
    expect(refusal({ direction: "sideways" }).field).toBe("direction");
    expect(refusal({ ethertype: "IPX" }).field).toBe("ethertype");
    expect(refusal({ remote_ip_prefix: "10.0.0.0/33" }).field).toBe("remote_ip_prefix");
    expect(refusal({ remote_ip_prefix: "::/0" }).message).toMatch(/not an IPv4 prefix/);
    expect(refusal({ port_range_min: 0, port_range_max: 10 }).field).toBe("port_range_min");
    expect(refusal({ port_range_min: 1, port_range_max: 70000 }).field).toBe("port_range_max");
    expect(refusal({ protocol: "icmp", port_range_min: 8, port_range_max: 8 }).message).toMatch(/ports apply only to/);
    expect(refusal({ protocol: "icmpv6" }).message).toMatch(/IPv6 protocol/);
  });

  it("normalises case, single ports and bare addresses", () => {
    expect(checkSecurityRule({ direction: "INGRESS", ethertype: "ipv4", protocol: "TCP", remote_ip_prefix: "192.0.2.7", port_range_min: 443 }))
      .toEqual({ direction: "ingress", ethertype: "IPv4", protocol: "tcp", remoteIpPrefix: "192.0.2.7/32", portRangeMin: 443, portRangeMax: 443 });
  });
});
