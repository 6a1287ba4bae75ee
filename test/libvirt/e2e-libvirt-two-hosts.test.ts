// The two-host real-libvirt harness (libvirt-two-host-stack.ts) proven on its own: two hosts, each
// a network namespace with a sandboxed libvirtd and a real orbit-agent process, joined to one test
// cloud over a LAN; a VM deployed through the API on each (the second kept away from the first
// with `avoid`), both guests booted and answering on their consoles through the API; the teardown
// leaves no namespace, daemon, QEMU or agent behind.
import { randomUUID } from "node:crypto";
import { execa } from "execa";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { missingTools } from "../../agent/src/drivers/libvirt/tool-availability.js";
import { type LibvirtTwoHostStack, libvirtTwoHostStack, type TestVm } from "./libvirt-two-host-stack.js";
import { REQUIRED_TOOLS } from "./sandboxed-libvirtd.js";

const missing = missingTools([...REQUIRED_TOOLS, "ip", "nft"]);
const notRoot = process.getuid?.() !== 0;
const reason = missing.length > 0 ? `${missing.join(", ")} not installed` : notRoot ? "needs root" : "";
const skip = reason !== "" && !process.env.CI;
if (skip) console.warn(`real-libvirt two-host e2e skipped: ${reason} (bash scripts/install-system-deps.sh)`);

describe.skipIf(skip)(`two real libvirt hosts in one cloud${reason ? ` (${reason})` : ""}`, () => {
  const stack = libvirtTwoHostStack();
  let s: LibvirtTwoHostStack;
  const vms: TestVm[] = [];
  const timings: string[] = [];

  beforeAll(async () => {
    if (reason) throw new Error(`real-libvirt tests cannot run: ${reason}`);
    const t = Date.now();
    s = await stack.start({ workPrefix: "orbit-2h-", settings: { "ping.interval": 1 } });
    timings.push(`stack up (2 namespaces, 2 libvirtd, 2 agents Up) ${Date.now() - t} ms`);
  }, 180_000);

  afterAll(async () => {
    if (timings.length) console.info(`two-host harness on QEMU/TCG: ${timings.join(", ")}`);
    await stack.stop();
  }, 60_000);

  it("both hosts are Up in one cluster, each agent a process of its own in its host's namespace", async () => {
    const hosts = (await s.cloud.api("GET", "/v1/admin/hosts")).json.hosts as Record<string, any>[];
    expect(hosts.map((h) => [h.name, h.state, h.driver]).sort()).toEqual([["orbit-lv-a", "Up", "libvirt"], ["orbit-lv-b", "Up", "libvirt"]]);
    // Where peers migrate to and probe each host: its daemon's TCP listener and its LAN address.
    for (const h of s.hosts) {
      expect(hosts.find((x) => x.name === h.hostname)).toMatchObject({ migration_uri: `qemu+tcp://${h.address}/system`, cluster_address: h.address });
    }
    expect(new Set(hosts.map((h) => h.cluster)).size).toBe(1);
    for (const h of s.hosts) {
      // `ip netns identify PID`: the agent process lives in its host's namespace, not the test's.
      expect((await execa("ip", ["netns", "identify", String(h.agent.handle.pid)])).stdout.trim()).toBe(h.net.name);
    }
  });

  it("deploys a VM on each host through the API; both guests boot and answer on their consoles", async () => {
    const t = Date.now();
    const first = await s.deploy({ name: "two-1" });
    const firstHost = (await s.instance(first.id)).host as string;
    const second = await s.deploy({ name: "two-2", avoid: [first.id] });
    const secondHost = (await s.instance(second.id)).host as string;
    vms.push(first, second);
    expect([firstHost, secondHost].sort()).toEqual(["orbit-lv-a", "orbit-lv-b"]);
    expect(await s.host(firstHost).running()).toEqual([first.uuid]);
    expect(await s.host(secondHost).running()).toEqual([second.uuid]);
    timings.push(`two VMs ACTIVE ${Date.now() - t} ms`);
    await s.booted(first);
    await s.booted(second);
    timings.push(`both GUEST-READY ${Date.now() - t} ms`);
    for (const vm of [first, second]) {
      const word = `two-${randomUUID().slice(0, 8)}`;
      expect(await s.typeOnConsole(vm, word)).toBe(`GUEST-ECHO ${word}`);
    }
  }, 240_000);

  it("deletes both VMs: no domain is left on either daemon", async () => {
    for (const vm of vms) expect((await s.cloud.api("DELETE", `/v1/core/virtual-machines/${vm.id}`)).status).toBe(200);
    await s.cloud.waitFor("both domains gone", async () => (await s.hosts[0].running()).length + (await s.hosts[1].running()).length === 0, 60_000);
  }, 90_000);

  it("the teardown leaves no namespace, libvirtd, QEMU or agent behind", async () => {
    expect((await s.footprint()).length).toBeGreaterThan(0);
    await stack.stop();
    expect(await s.footprint()).toEqual([]);
  }, 60_000);
});
