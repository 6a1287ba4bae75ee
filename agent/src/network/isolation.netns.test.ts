// Proves the host keeps environments apart at L3 (bridge-isolation.ts) in network namespaces. Per
// case a "host" namespace holds two environment bridges, orb-<sfx>a and orb-<sfx>b, each with its
// network's gateway, and forwards IPv4, as linux-bridge.ts sets a host up; "a1" and "a2" are VMs on
// the first bridge, "b1" a VM on the second, "up" a machine on a routed uplink (the floating IPs'
// side). Without isolation the host routes a1 <-> b1 (the control); with it they cannot reach each
// other, while each VM still reaches its gateway and a VM on its own bridge, and the uplink still
// reaches the VMs both ways. Both with br_netfilter's bridge-nf-call-iptables off and on (on, the
// intra-bridge traffic passes the inet forward hook with iif = oif = the bridge). The machine's own
// namespace is never touched and no packet leaves the machine.
// Needs root, nft, ip (iproute2) and python3 (the pings); skipped otherwise.
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { execa } from "execa";
import { describe, expect, it } from "vitest";
import { ISOLATION_TABLE, NftBridgeIsolation } from "./bridge-isolation.js";

function has(tool: string): boolean {
  try { execFileSync("sh", ["-c", `command -v ${tool}`], { stdio: "ignore" }); return true; } catch { return false; }
}
const skipReason = process.getuid?.() !== 0 ? "not root" : !has("nft") ? "nft not installed (Debian: nftables)"
  : !has("ip") ? "ip not installed (iproute2)" : !has("python3") ? "python3 not installed" : "";

const sfx = randomBytes(3).toString("hex");
const ip = (...args: string[]) => execa("ip", args);
const inNs = (ns: string, cmd: string, ...args: string[]) => execa("ip", ["netns", "exec", ns, cmd, ...args]);

/** One ICMP echo request as root (raw socket); prints "reply" or "timeout". */
const PING = `import socket,struct,sys
s=socket.socket(socket.AF_INET,socket.SOCK_RAW,socket.IPPROTO_ICMP); s.settimeout(1.5)
h=struct.pack("!BBHHH",8,0,0,0x4f52,1)+b"orbit!"; c=sum(struct.unpack("!7H",h))
c=(c>>16)+(c&0xffff); c=~(c+(c>>16))&0xffff; s.sendto(h[:2]+struct.pack("!H",c)+h[4:],(sys.argv[1],0))
try:
  while True:
    d,a=s.recvfrom(1500)
    if a[0]==sys.argv[1] and d[20]==0: print("reply"); break
except socket.timeout: print("timeout")`;
async function ping(from: string, host: string): Promise<string> {
  return (await inNs(from, "python3", "-c", PING, host)).stdout.trim();
}

const A_GW = "10.241.0.1";
const A1 = "10.241.0.2";
const A2 = "10.241.0.3";
const B_GW = "10.242.0.1";
const B1 = "10.242.0.2";
const UP = "10.243.0.2";

interface Host { ns: { host: string; a1: string; a2: string; b1: string; up: string }; bridgeA: string; bridgeB: string }

async function makeHost(tag: string, brNetfilter: boolean): Promise<Host> {
  const ns = { host: `orbit-iso${tag}h-${sfx}`, a1: `orbit-iso${tag}a1-${sfx}`, a2: `orbit-iso${tag}a2-${sfx}`, b1: `orbit-iso${tag}b1-${sfx}`, up: `orbit-iso${tag}u-${sfx}` };
  const bridgeA = `orb-${sfx}${tag}a`;
  const bridgeB = `orb-${sfx}${tag}b`;
  for (const n of Object.values(ns)) await ip("netns", "add", n);
  const v = brNetfilter ? "1" : "0";
  await inNs(ns.host, "sysctl", "-qw", `net.bridge.bridge-nf-call-iptables=${v}`, `net.bridge.bridge-nf-call-ip6tables=${v}`);
  await inNs(ns.host, "sysctl", "-qw", "net.ipv4.ip_forward=1");
  for (const [br, gw] of [[bridgeA, A_GW], [bridgeB, B_GW]] as const) {
    await inNs(ns.host, "ip", "link", "add", "name", br, "type", "bridge");
    await inNs(ns.host, "ip", "addr", "add", `${gw}/24`, "dev", br);
    await inNs(ns.host, "ip", "link", "set", br, "up");
  }
  const vms = [[ns.a1, A1, A_GW, bridgeA], [ns.a2, A2, A_GW, bridgeA], [ns.b1, B1, B_GW, bridgeB]] as const;
  for (const [i, [vm, addr, gw, br]] of vms.entries()) {
    const port = `oiso${tag}${i}${sfx}`;
    await ip("link", "add", port, "netns", ns.host, "type", "veth", "peer", "name", "eth0", "netns", vm);
    await inNs(ns.host, "ip", "link", "set", port, "master", br);
    await inNs(ns.host, "ip", "link", "set", port, "up");
    await inNs(vm, "ip", "addr", "add", `${addr}/24`, "dev", "eth0");
    await inNs(vm, "ip", "link", "set", "eth0", "up");
    await inNs(vm, "ip", "route", "add", "default", "via", gw);
  }
  const uplink = `oiso${tag}u${sfx}`;
  await ip("link", "add", uplink, "netns", ns.host, "type", "veth", "peer", "name", "eth0", "netns", ns.up);
  await inNs(ns.host, "ip", "addr", "add", "10.243.0.1/24", "dev", uplink);
  await inNs(ns.host, "ip", "link", "set", uplink, "up");
  await inNs(ns.up, "ip", "addr", "add", `${UP}/24`, "dev", "eth0");
  await inNs(ns.up, "ip", "link", "set", "eth0", "up");
  await inNs(ns.up, "ip", "route", "add", "default", "via", "10.243.0.1");
  expect((await inNs(ns.host, "sysctl", "-n", "net.bridge.bridge-nf-call-iptables")).stdout.trim()).toBe(v);
  return { ns, bridgeA, bridgeB };
}

async function dropHost(h: Host): Promise<void> {
  // Deleting a namespace deletes its veth ends (and their peers) and its nftables tables.
  for (const n of Object.values(h.ns)) await ip("netns", "del", n).catch(() => undefined);
}

describe.skipIf(skipReason !== "")(`environment bridges isolated by nftables in network namespaces${skipReason ? ` (skipped: ${skipReason})` : ""}`, () => {
  for (const [tag, brNetfilter] of [["f", false], ["n", true]] as const) {
    it(`with bridge-nf-call-iptables ${brNetfilter ? "on" : "off"}: the host routes between environments until isolated, then only within each and to the uplink`, async () => {
      const h = await makeHost(tag, brNetfilter);
      try {
        // Control: forwarding on, two gateways, no isolation: the host routes A <-> B.
        expect(await ping(h.ns.a1, B1)).toBe("reply");
        expect(await ping(h.ns.b1, A1)).toBe("reply");

        const iso = new NftBridgeIsolation({ nftCommand: ["ip", "netns", "exec", h.ns.host, "nft"] });
        await iso.isolate(h.bridgeA);
        // Half isolated: A's packets to B are dropped, B's to A get through (the echo reply is not).
        expect(await ping(h.ns.a1, B1)).toBe("timeout");
        await iso.isolate(h.bridgeB);
        await iso.isolate(h.bridgeA); // idempotent: a second ensure changes nothing

        expect(await ping(h.ns.a1, B1)).toBe("timeout");
        expect(await ping(h.ns.b1, A1)).toBe("timeout");
        expect(await ping(h.ns.a2, B1)).toBe("timeout");
        // Within an environment: its gateway and the other VM on its bridge (bridged).
        expect(await ping(h.ns.a1, A_GW)).toBe("reply");
        expect(await ping(h.ns.a1, A2)).toBe("reply");
        expect(await ping(h.ns.a2, A1)).toBe("reply");
        expect(await ping(h.ns.b1, B_GW)).toBe("reply");
        // The uplink (where floating-IP traffic comes from and goes to) is routed both ways.
        expect(await ping(h.ns.up, A1)).toBe("reply");
        expect(await ping(h.ns.up, B1)).toBe("reply");
        expect(await ping(h.ns.b1, UP)).toBe("reply");

        const listed = JSON.parse((await inNs(h.ns.host, "nft", "-j", "list", "table", ISOLATION_TABLE.family, ISOLATION_TABLE.table)).stdout) as { nftables: Record<string, unknown>[] };
        const rules = listed.nftables.filter((o) => "rule" in o);
        expect(rules).toHaveLength(3); // the dispatch and one drop per bridge, after three ensures

        if (!brNetfilter) {
          // A's bridge goes (its last VM destroyed): its chain and map entry go; B stays isolated.
          await iso.release(h.bridgeA);
          await iso.release(h.bridgeA); // idempotent: nothing left to forget
          await iso.release(`orb-${sfx}zz`); // never isolated: nothing happens
          const after = JSON.parse((await inNs(h.ns.host, "nft", "-j", "list", "table", ISOLATION_TABLE.family, ISOLATION_TABLE.table)).stdout) as { nftables: Record<string, any>[] };
          expect(after.nftables.filter((o) => "chain" in o).map((o) => o.chain.name).sort()).toEqual(["forward", `from-${h.bridgeB}`]);
          const map = after.nftables.find((o) => "map" in o)?.map as { elem?: unknown[] } | undefined;
          expect(JSON.stringify(map?.elem ?? [])).not.toContain(h.bridgeA);
          expect(JSON.stringify(map?.elem ?? [])).toContain(h.bridgeB);
          // B's packets to A are still dropped; A's reach B now, but B's reply is dropped.
          expect(await ping(h.ns.b1, A1)).toBe("timeout");
          expect(await ping(h.ns.a1, B1)).toBe("timeout");
          expect(await ping(h.ns.a1, A_GW)).toBe("reply");
        }
      } finally {
        await dropHost(h);
      }
    }, 60_000);
  }
});
