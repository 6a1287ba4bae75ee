// Floating IPs on real libvirt, end to end: a manager with a floating pool, an agent whose
// LibvirtHypervisor drives a sandboxed libvirtd, and a booted test guest (build-test-guest.sh)
// with a floating IP. The agent's bridge (with the network's gateway), taps and nftables live in a
// network namespace standing in for the host (host-network-sandbox.ts); a second namespace is a
// client outside the cloud, joined to the host by a veth, with the floating pool routed to the
// host as an operator's router would (agent/src/drivers/README.md, Networking). The client pings
// the floating address and the guest answers; the guest pings the client, which sees the floating
// address as the source (an nft counter in the client's namespace). Tests run in order.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { randomUUID } from "node:crypto";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { eq } from "drizzle-orm";
import { execa } from "execa";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type OrbitAgent } from "../../agent/src/agent.js";
import { missingTools } from "../../agent/src/drivers/libvirt/tool-availability.js";
import { images } from "../../manager/src/db/schema.js";
import { jobsIdle, startTestCloud, type TestCloud } from "../e2e/harness.js";
import { lastGuestReport } from "./guest-console.js";
import { type HostNetworkSandbox, startHostNetworkSandbox } from "./host-network-sandbox.js";
import { REQUIRED_TOOLS, type SandboxedLibvirtd, startSandboxedLibvirtd } from "./sandboxed-libvirtd.js";
import { joinLibvirtTestHost, type TestGuestHypervisor } from "./libvirt-test-host.js";
import { ensureTestGuest } from "./test-guest.js";

const missing = missingTools([...REQUIRED_TOOLS, "nft", "ip", "ping", "sysctl"]);
const notRoot = process.getuid?.() !== 0;
const reason = missing.length > 0 ? `${missing.join(", ")} not installed` : notRoot ? "needs root" : "";
const skip = reason !== "" && !process.env.CI;
if (skip) console.warn(`real-libvirt floating-IP e2e skipped: ${reason} (bash scripts/install-system-deps.sh)`);


const ICMP = (direction: "ingress" | "egress") => ({ direction, ethertype: "IPv4", protocol: "icmp", remote_ip_prefix: "0.0.0.0/0", port_range_min: null, port_range_max: null });

// Documentation ranges (RFC 5737): the floating pool, and the link between the host and the client.
const POOL = "203.0.113.0/28";
const HOST_UPLINK = "192.0.2.1";
const CLIENT = "192.0.2.2";

interface Vm { id: number; uuid: string; fixedIp: string; floatingIp: string }

describe.skipIf(skip)(`floating IPs through manager and agent on a real libvirtd${reason ? ` (${reason})` : ""}`, () => {
  let net: HostNetworkSandbox | undefined;
  let client: string | undefined;
  let daemon: SandboxedLibvirtd | undefined;
  let cloud: TestCloud | undefined;
  let agent: OrbitAgent | undefined;
  let hv: TestGuestHypervisor;
  let work: string;
  let vm: Vm;
  const timings: string[] = [];

  const serial = (): string => (existsSync(hv.serialLogPath(vm.uuid)) ? readFileSync(hv.serialLogPath(vm.uuid), "utf8") : "");
  const instance = async (id: number) => (await cloud!.api("GET", `/v1/core/virtual-machines/${id}`)).json.instance;
  const waitSerial = <T>(what: string, fn: (log: string) => T | undefined, timeoutMs = 60_000): Promise<T> =>
    cloud!.waitFor(what, async () => fn(serial()), timeoutMs).catch((e: unknown) => {
      throw new Error(`${String(e)}\n--- serial log (tail)\n${serial().slice(-2500)}`);
    });
  const lastPing = (to: string): string | undefined =>
    [...serial().matchAll(new RegExp(`^GUEST-PING ${to.replaceAll(".", "\\.")} (ok|fail)\\r?$`, "gm"))].at(-1)?.[1];
  /** The client pings an address: ping's exit code and output. */
  const clientPing = async (to: string, count = 3) =>
    execa("ip", ["netns", "exec", client!, "ping", "-n", "-c", String(count), "-i", "0.3", "-W", "2", to], { reject: false });
  /** Echo requests the client received, by source address (nft counters in its namespace). */
  const clientCounters = async (): Promise<Record<string, number>> => {
    const out = JSON.parse((await execa("ip", ["netns", "exec", client!, "nft", "-j", "list", "chain", "ip", "fipclient", "in"])).stdout) as { nftables: Record<string, any>[] };
    const counts: Record<string, number> = {};
    for (const { rule } of out.nftables.filter((x) => x.rule)) {
      const src = rule.expr.find((e: any) => e.match?.left?.payload?.field === "saddr")?.match.right as string;
      counts[src] = rule.expr.find((e: any) => e.counter)?.counter.packets as number;
    }
    return counts;
  };

  beforeAll(async () => {
    if (reason) throw new Error(`real-libvirt tests cannot run: ${reason} (CI must install libvirt-daemon, qemu-system-x86, qemu-utils, genisoimage, nftables)`);
    const guest = await ensureTestGuest();
    net = await startHostNetworkSandbox();
    // The client: its own namespace, a veth to the host's, and the floating pool routed to the host.
    client = `orbit-fipc-${randomUUID().slice(0, 8)}`;
    const suffix = client.slice(-8);
    await execa("ip", ["netns", "add", client]);
    await execa("ip", ["-n", client, "link", "set", "lo", "up"]);
    await execa("ip", ["link", "add", `fh-${suffix}`, "type", "veth", "peer", "name", `fc-${suffix}`]);
    await execa("ip", ["link", "set", `fh-${suffix}`, "netns", net.name]);
    await execa("ip", ["link", "set", `fc-${suffix}`, "netns", client]);
    await net.exec("ip", ["addr", "add", `${HOST_UPLINK}/24`, "dev", `fh-${suffix}`]);
    await net.exec("ip", ["link", "set", `fh-${suffix}`, "up"]);
    await execa("ip", ["-n", client, "addr", "add", `${CLIENT}/24`, "dev", `fc-${suffix}`]);
    await execa("ip", ["-n", client, "link", "set", `fc-${suffix}`, "up"]);
    await execa("ip", ["-n", client, "route", "add", POOL, "via", HOST_UPLINK]);
    // A new namespace inherits the root's IPv4 settings (devconf_inherit_init_net 0): start with
    // forwarding off whatever the machine has, so the agent is seen turning it on.
    await net.exec("sysctl", ["-w", "net.ipv4.ip_forward=0"]);
    expect(await net.exec("sysctl", ["-n", "net.ipv4.ip_forward"])).toBe("0"); // the agent turns it on

    daemon = await startSandboxedLibvirtd({ netns: net.name });
    work = mkdtempSync(join(tmpdir(), "orbit-e2e-fip-"));
    mkdirSync(join(work, "images"));
    const base = join(work, "images", "base.qcow2");
    await execa("qemu-img", ["create", "-q", "-f", "qcow2", base, "64M"]);
    cloud = await startTestCloud({ hosts: [] });
    await cloud.manager.database.db.update(images).set({ path: base }).where(eq(images.name, "Debian 12"));
    ({ hv, agent } = await joinLibvirtTestHost({ cloud, daemon, net, guest, work, hostname: "libvirt-fip-host", images: true }));
  }, 300_000);

  afterAll(async () => {
    if (timings.length) console.info(`floating-IP e2e on QEMU/TCG: ${timings.join(", ")}`);
    await agent?.stop();
    await cloud?.stop();
    await hv?.close();
    await daemon?.stop();
    await net?.stop();
    if (client) await execa("ip", ["netns", "del", client], { reject: false });
    if (work) rmSync(work, { recursive: true, force: true });
  }, 60_000);

  it("a guest created with a floating IP boots on its network's bridge, which has the gateway; the host forwards", async () => {
    const t = Date.now();
    const env = await cloud!.api("POST", "/v1/core/environments", { name: "public", region: "default" });
    expect(env.status, JSON.stringify(env.json)).toBe(200);
    const set = await cloud!.api("PUT", `/v1/admin/environments/${env.json.environment.id}/network`, { floating_ip_pool: POOL });
    expect(set.status, JSON.stringify(set.json)).toBe(200);
    const network = set.json.network;
    // The guest pings the client every second and prints each change of answer (build-test-guest.sh).
    const r = await cloud!.api("POST", "/v1/core/virtual-machines", {
      name: "fip", environment_name: "public", flavor_name: "t1-tiny", image_name: "Debian 12", assign_floating_ip: true,
      user_data: `#cloud-config\nruncmd:\n  - echo orbit-test-ping=${CLIENT}\n`,
    });
    expect(r.status, JSON.stringify(r.json)).toBe(200);
    const i = r.json.instances[0];
    vm = { id: i.id, uuid: i.uuid, fixedIp: i.fixed_ip, floatingIp: i.floating_ip };
    expect(vm.floatingIp).toMatch(/^203\.0\.113\./);
    await cloud!.waitFor("fip ACTIVE", async () => {
      const x = await instance(vm.id);
      if (x?.status === "ERROR") throw new Error(`deploy failed: ${x.state_reason}\n${daemon!.logs()}`);
      return x?.status === "ACTIVE";
    }, 60_000);
    const eth0 = await waitSerial("the guest's address in GUEST-NETS", (l) => lastGuestReport(l, "GUEST-NETS")?.get("eth0")?.split("/").slice(1).join("/") || undefined);
    timings.push(`create to address in the guest ${Date.now() - t} ms`);
    expect(eth0).toBe(`${vm.fixedIp}/${network.prefix_length}`);
    // The bridge carries the network's gateway (the guest's default route), and forwarding is on.
    const addrs = JSON.parse(await net!.exec("ip", ["-j", "addr", "show", "dev", network.bridge])) as { addr_info: { family: string; local: string; prefixlen: number }[] }[];
    expect(addrs[0]!.addr_info.filter((a) => a.family === "inet").map((a) => `${a.local}/${a.prefixlen}`)).toEqual([`${network.gateway}/${network.prefix_length}`]);
    expect(await net!.exec("sysctl", ["-n", "net.ipv4.ip_forward"])).toBe("1");
    // The host does not own the floating address: only its NAT answers for it.
    expect(await net!.exec("ip", ["-o", "addr"])).not.toContain(vm.floatingIp);
    await execa("ip", ["netns", "exec", client!, "nft", "-f", "-"], {
      input: `table ip fipclient {
  chain in {
    type filter hook input priority 0; policy accept;
    ip saddr ${vm.floatingIp} icmp type echo-request counter
    ip saddr ${vm.fixedIp} icmp type echo-request counter
  }
}
`,
    });
  }, 120_000);

  it("without an ICMP rule, the client's pings to the floating IP get no answer and the guest's pings do not reach the client", async () => {
    // The guest has been pinging since boot; give it a few more.
    await waitSerial("the guest's first GUEST-PING", () => lastPing(CLIENT));
    const ping = await clientPing(vm.floatingIp);
    expect(ping.exitCode, ping.stdout).not.toBe(0);
    expect(ping.stdout).toMatch(/0 received/);
    expect(lastPing(CLIENT)).toBe("fail");
    expect(await clientCounters()).toEqual({ [vm.floatingIp]: 0, [vm.fixedIp]: 0 });
  }, 60_000);

  it("with ICMP ingress allowed, the client's pings to the floating IP are DNATed to the guest, which answers", async () => {
    const t = Date.now();
    const r = await cloud!.api("POST", `/v1/core/virtual-machines/${vm.id}/sg-rules`, ICMP("ingress"));
    expect(r.status, JSON.stringify(r.json)).toBe(200);
    await jobsIdle(cloud!);
    const ping = await clientPing(vm.floatingIp, 5);
    timings.push(`ingress sg-rule to the client's pings answered ${Date.now() - t} ms`);
    expect(ping.exitCode, `${ping.stdout}\n${ping.stderr}`).toBe(0);
    expect(ping.stdout).toContain(`from ${vm.floatingIp}`);
    // The host NATs the floating address to the guest (it owns no such address): the answers are the VM's.
    const dnat = await net!.exec("nft", ["list", "table", "ip", "orbit_nat"]);
    expect(dnat).toContain(`dnat to ${vm.fixedIp}`);
    // Where the kernel lists its connections (CONFIG_NF_CONNTRACK_PROCFS): the flow, both ways.
    const conntrack = await net!.exec("cat", ["/proc/net/nf_conntrack"]).catch(() => "");
    if (conntrack) expect(conntrack).toMatch(new RegExp(`src=${CLIENT.replaceAll(".", "\\.")} dst=${vm.floatingIp.replaceAll(".", "\\.")} .*src=${vm.fixedIp.replaceAll(".", "\\.")} dst=${CLIENT.replaceAll(".", "\\.")}`));
    // The guest's pings out still need an egress rule.
    expect(lastPing(CLIENT)).toBe("fail");
  }, 60_000);

  it("with ICMP egress allowed, the guest's pings reach the client from the floating IP (SNAT), never from its fixed address", async () => {
    const t = Date.now();
    const r = await cloud!.api("POST", `/v1/core/virtual-machines/${vm.id}/sg-rules`, ICMP("egress"));
    expect(r.status, JSON.stringify(r.json)).toBe(200);
    await jobsIdle(cloud!);
    await waitSerial("GUEST-PING ok", () => (lastPing(CLIENT) === "ok" ? true : undefined), 30_000);
    timings.push(`egress sg-rule to the guest's ping answered ${Date.now() - t} ms`);
    const counts = await clientCounters();
    expect(counts[vm.floatingIp]).toBeGreaterThan(0);
    expect(counts[vm.fixedIp]).toBe(0);
  }, 60_000);
});
