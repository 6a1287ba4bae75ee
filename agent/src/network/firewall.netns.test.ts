// Proves the built firewall is enforced by the kernel: three network namespaces stand in for a
// host, a VM behind its tap, and a client. The host namespace routes between them and holds the
// nftables ruleset, so the machine's own namespace and its firewall are never touched, and no
// packet leaves the machine. Needs root, nft and ip (iproute2); skipped otherwise.
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { execa, type ResultPromise } from "execa";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { checkSecurityRule, type SecurityRuleInput } from "#shared/security-rules.js";
import { NftFirewall } from "./nft-firewall.js";
import { vmChainNames, type VmFirewallInput } from "./vm-firewall.js";

function has(tool: string): boolean {
  try { execFileSync("sh", ["-c", `command -v ${tool}`], { stdio: "ignore" }); return true; } catch { return false; }
}
const skipReason = process.getuid?.() !== 0 ? "not root" : !has("nft") ? "nft not installed (Debian: nftables)" : !has("ip") ? "ip not installed (iproute2)" : "";
const hasPython = has("python3");

const sfx = randomBytes(3).toString("hex");
const NS = { host: `orbit-fw-host-${sfx}`, vm: `orbit-fw-vm-${sfx}`, client: `orbit-fw-cli-${sfx}` };
/** The host end of the VM's veth stands in for its tap (interface names: at most 15 characters). */
const TAP = `ofw${sfx}v`;
const CLIENT_LINK = `ofw${sfx}c`;
const VM_IP = "10.231.0.2";
const CLIENT_IP = "10.232.0.2";
const VM_IP6 = "fd00:231::2";
const CLIENT_IP6 = "fd00:232::2";
const FLOATING_IP = "203.0.113.77";
const VM_UUID = `0f1e2d3c-0000-4000-8000-${sfx}000000`;
const ALLOWED = 8080;
const DENIED = 9090;
const CLIENT_PORT = 7070;

const ip = (...args: string[]) => execa("ip", args);
const inNs = (ns: string, cmd: string, ...args: string[]) => execa("ip", ["netns", "exec", ns, cmd, ...args]);

/** A TCP server answering each connection with "<its local address> <the peer's address>". */
const SERVER = `for (const p of process.argv.slice(1)) for (const host of ["0.0.0.0", "::"]) require("net").createServer((s) => s.end(s.localAddress + " " + s.remoteAddress)).listen({ port: Number(p), host, ipv6Only: host === "::" });`;
/** Connects, prints what the server said; exit 2 when nothing came within the timeout. */
const CLIENT = `const [h, p] = process.argv.slice(1); const s = require("net").connect(Number(p), h); let d = ""; s.on("data", (b) => d += b); s.on("end", () => { console.log(d); process.exit(0); }); s.on("error", (e) => { console.log("error " + e.code); process.exit(3); }); setTimeout(() => { console.log("timeout"); process.exit(2); }, 1500);`;
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

async function connect(from: string, host: string, port: number): Promise<string> {
  const r = await execa("ip", ["netns", "exec", from, "node", "-e", CLIENT, host, String(port)], { reject: false });
  return r.stdout.trim();
}
async function ping(from: string, host: string): Promise<string> {
  return (await inNs(from, "python3", "-c", PING, host)).stdout.trim();
}

const rule = (r: Partial<SecurityRuleInput>) =>
  checkSecurityRule({ direction: "ingress", ethertype: "IPv4", protocol: "tcp", remote_ip_prefix: "0.0.0.0/0", ...r });

describe.skipIf(skipReason !== "")(`VM firewall enforced by nftables in network namespaces${skipReason ? ` (skipped: ${skipReason})` : ""}`, () => {
  const servers: ResultPromise[] = [];
  const fw = new NftFirewall({ nftCommand: ["ip", "netns", "exec", NS.host, "nft"] });
  const base: Omit<VmFirewallInput, "rules"> = { vmUuid: VM_UUID, tapInterface: TAP, privateIp: VM_IP };

  async function waitListening(ns: string, addr: string, port: number): Promise<void> {
    for (let i = 0; i < 50; i++) {
      if (!(await connect(ns, addr, port)).startsWith("error") ) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`server on ${addr}:${port} in ${ns} did not start`);
  }

  beforeAll(async () => {
    for (const ns of Object.values(NS)) await ip("netns", "add", ns);
    await ip("link", "add", TAP, "netns", NS.host, "type", "veth", "peer", "name", "eth0", "netns", NS.vm);
    await ip("link", "add", CLIENT_LINK, "netns", NS.host, "type", "veth", "peer", "name", "eth0", "netns", NS.client);
    await inNs(NS.host, "ip", "addr", "add", "10.231.0.1/24", "dev", TAP);
    await inNs(NS.host, "ip", "addr", "add", "10.232.0.1/24", "dev", CLIENT_LINK);
    await inNs(NS.vm, "ip", "addr", "add", `${VM_IP}/24`, "dev", "eth0");
    await inNs(NS.client, "ip", "addr", "add", `${CLIENT_IP}/24`, "dev", "eth0");
    // nodad: usable at once (no duplicate address detection wait).
    await inNs(NS.host, "ip", "-6", "addr", "add", "fd00:231::1/64", "dev", TAP, "nodad");
    await inNs(NS.host, "ip", "-6", "addr", "add", "fd00:232::1/64", "dev", CLIENT_LINK, "nodad");
    await inNs(NS.vm, "ip", "-6", "addr", "add", `${VM_IP6}/64`, "dev", "eth0", "nodad");
    await inNs(NS.client, "ip", "-6", "addr", "add", `${CLIENT_IP6}/64`, "dev", "eth0", "nodad");
    for (const [ns, links] of [[NS.host, [TAP, CLIENT_LINK, "lo"]], [NS.vm, ["eth0", "lo"]], [NS.client, ["eth0", "lo"]]] as const) {
      for (const l of links) await inNs(ns, "ip", "link", "set", l, "up");
    }
    await inNs(NS.vm, "ip", "route", "add", "default", "via", "10.231.0.1");
    await inNs(NS.client, "ip", "route", "add", "default", "via", "10.232.0.1");
    await inNs(NS.vm, "ip", "-6", "route", "add", "default", "via", "fd00:231::1");
    await inNs(NS.client, "ip", "-6", "route", "add", "default", "via", "fd00:232::1");
    await inNs(NS.host, "sysctl", "-qw", "net.ipv4.ip_forward=1");
    await inNs(NS.host, "sysctl", "-qw", "net.ipv6.conf.all.forwarding=1");
    servers.push(execa("ip", ["netns", "exec", NS.vm, "node", "-e", SERVER, String(ALLOWED), String(DENIED)], { reject: false }));
    servers.push(execa("ip", ["netns", "exec", NS.client, "node", "-e", SERVER, String(CLIENT_PORT), String(CLIENT_PORT + 1)], { reject: false }));
    await waitListening(NS.client, VM_IP, DENIED);
    await waitListening(NS.client, VM_IP6, DENIED);
    await waitListening(NS.vm, CLIENT_IP, CLIENT_PORT + 1);
  });

  afterAll(async () => {
    for (const s of servers) s.kill("SIGKILL");
    await Promise.allSettled(servers);
    // Deleting a namespace deletes its veth ends (and their peers) and its nftables tables.
    for (const ns of Object.values(NS)) await execa("ip", ["netns", "del", ns], { reject: false });
  });

  it("without a firewall, every port of the VM is reachable (the setup itself filters nothing)", async () => {
    expect(await connect(NS.client, VM_IP, ALLOWED)).toBe(`${VM_IP} ${CLIENT_IP}`);
    expect(await connect(NS.client, VM_IP, DENIED)).toBe(`${VM_IP} ${CLIENT_IP}`);
    expect(await connect(NS.client, VM_IP6, ALLOWED)).toBe(`${VM_IP6} ${CLIENT_IP6}`);
    if (hasPython) expect(await ping(NS.client, VM_IP)).toBe("reply");
  });

  it("allows the ingress port of a rule, drops the others, and ICMP without a rule", async () => {
    await fw.apply({ ...base, rules: [rule({ port_range_min: ALLOWED, port_range_max: ALLOWED, remote_ip_prefix: "10.232.0.0/24" })] });
    expect(await connect(NS.client, VM_IP, ALLOWED)).toBe(`${VM_IP} ${CLIENT_IP}`);
    expect(await connect(NS.client, VM_IP, DENIED)).toBe("timeout");
    if (hasPython) expect(await ping(NS.client, VM_IP)).toBe("timeout");
    // No egress rule: the VM cannot open connections out (answers to allowed ingress still flow).
    expect(await connect(NS.vm, CLIENT_IP, CLIENT_PORT)).toBe("timeout");
  });

  it("a rule's remote_ip_prefix limits who may connect", async () => {
    await fw.apply({ ...base, rules: [rule({ port_range_min: ALLOWED, port_range_max: ALLOWED, remote_ip_prefix: "10.99.0.0/16" })] });
    expect(await connect(NS.client, VM_IP, ALLOWED)).toBe("timeout");
  });

  it.skipIf(!hasPython)("an icmp rule lets pings through (python3 sends them)", async () => {
    await fw.apply({ ...base, rules: [rule({ protocol: "icmp" })] });
    expect(await ping(NS.client, VM_IP)).toBe("reply");
    expect(await connect(NS.client, VM_IP, ALLOWED)).toBe("timeout");
  });

  it("a rule's ethertype picks the IP family: an IPv6 rule opens the port over IPv6 only", async () => {
    await fw.apply({ ...base, rules: [rule({ ethertype: "IPv6", remote_ip_prefix: "fd00:232::/64", port_range_min: ALLOWED, port_range_max: ALLOWED })] });
    expect(await connect(NS.client, VM_IP6, ALLOWED)).toBe(`${VM_IP6} ${CLIENT_IP6}`);
    expect(await connect(NS.client, VM_IP6, DENIED)).toBe("timeout");
    expect(await connect(NS.client, VM_IP, ALLOWED)).toBe("timeout");
  });

  it("a floating IP is DNATed to the VM and the VM's own connections leave SNATed to it", async () => {
    await fw.apply({
      ...base, floatingIp: FLOATING_IP,
      rules: [
        rule({ port_range_min: ALLOWED, port_range_max: ALLOWED }),
        rule({ direction: "egress", port_range_min: CLIENT_PORT, port_range_max: CLIENT_PORT, remote_ip_prefix: `${CLIENT_IP}/32` }),
      ],
    });
    // The client dialled the floating IP; the VM answered on its private one.
    expect(await connect(NS.client, FLOATING_IP, ALLOWED)).toBe(`${VM_IP} ${CLIENT_IP}`);
    expect(await connect(NS.client, FLOATING_IP, DENIED)).toBe("timeout");
    // The client sees the VM's connection come from the floating IP; the other port is not allowed out.
    expect(await connect(NS.vm, CLIENT_IP, CLIENT_PORT)).toBe(`${CLIENT_IP} ${FLOATING_IP}`);
    expect(await connect(NS.vm, CLIENT_IP, CLIENT_PORT + 1)).toBe("timeout");
  });

  it("re-applying replaces the VM's rules and NAT whole; read-back shows one element per map", async () => {
    await fw.apply({ ...base, rules: [rule({ port_range_min: DENIED, port_range_max: DENIED })] });
    expect(await connect(NS.client, VM_IP, DENIED)).toBe(`${VM_IP} ${CLIENT_IP}`);
    expect(await connect(NS.client, VM_IP, ALLOWED)).toBe("timeout");
    // The NAT is gone: the host has no route to the floating IP any more and says so.
    expect(await connect(NS.client, FLOATING_IP, DENIED)).toBe("error ENETUNREACH");
    const state = await fw.read(VM_UUID);
    const names = vmChainNames(VM_UUID);
    expect(state.chains.map((c) => c.name).sort()).toEqual([names.in, names.out].sort());
    expect(state.elements.map((e) => `${e.map}:${e.key}->${e.target}`).sort()).toEqual([`vm_egress:${TAP}->${names.out}`, `vm_ingress:${TAP}->${names.in}`]);
  });

  it("another VM's apply leaves this VM's chains as they are", async () => {
    const other = { vmUuid: "0f1e2d3c-0000-4000-8000-00000000beef", tapInterface: `ofw${sfx}x`, rules: [] };
    await fw.apply(other);
    expect(await connect(NS.client, VM_IP, DENIED)).toBe(`${VM_IP} ${CLIENT_IP}`);
    expect(await connect(NS.client, VM_IP, ALLOWED)).toBe("timeout");
    await fw.remove(other.vmUuid);
    expect((await fw.read(other.vmUuid)).chains).toEqual([]);
  });

  it("removal on destroy takes the VM's chains and elements away; removing again is a no-op", async () => {
    await fw.remove(VM_UUID);
    expect(await fw.read(VM_UUID)).toEqual({ chains: [], elements: [] });
    expect(await connect(NS.client, VM_IP, ALLOWED)).toBe(`${VM_IP} ${CLIENT_IP}`);
    await fw.remove(VM_UUID);
  });
});
