// The walking skeleton's flow against the libvirt driver: a manager, and an agent whose driver
// is LibvirtHypervisor talking through virsh to a sandboxed libvirtd, twice: with libvirt's test
// driver (test+unix:///default: the test driver keeps state only inside one connection, the
// daemon makes it shared between virsh calls), and with real QEMU (TCG) guests booting UEFI.
import { execa } from "execa";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PowerState } from "#shared/protocol.js";
import { OrbitAgent } from "../../agent/src/agent.js";
import { CommandDispatcher } from "../../manager/src/agents/command-dispatcher.js";
import { hosts } from "../../manager/src/db/schema.js";
import { MemoryIdentityStore } from "../../agent/src/connection/identity-store.js";
import { LibvirtHypervisor } from "../../agent/src/drivers/libvirt/libvirt-hypervisor.js";
import { StaticGpuInventory } from "../../agent/src/gpu/gpu-inventory.js";
import { startTestCloud, type TestCloud } from "../e2e/harness.js";
import { type HostNetworkSandbox, startHostNetworkSandbox } from "./host-network-sandbox.js";
import { REQUIRED_TOOLS, startSandboxedLibvirtd, type SandboxedLibvirtd } from "./sandboxed-libvirtd.js";
import { existsSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

async function missingTools(): Promise<string[]> {
  const out: string[] = [];
  for (const t of REQUIRED_TOOLS) if ((await execa("which", [t], { reject: false })).exitCode !== 0) out.push(t);
  if (process.getuid?.() !== 0) out.push("(root)");
  return out;
}

const missing = await missingTools();
if (missing.length && process.env.CI) throw new Error(`libvirt tier cannot run in CI: missing ${missing.join(", ")}`);
const d = missing.length ? describe.skip : describe;
if (missing.length) console.warn(`skipping the libvirt driver e2e: missing ${missing.join(", ")} (bash scripts/install-system-deps.sh)`);

const OVMF = { loader: "/usr/share/OVMF/OVMF_CODE_4M.fd", nvramTemplate: "/usr/share/OVMF/OVMF_VARS_4M.fd", secureBoot: false };
const ovmfMissing = !existsSync(OVMF.loader);
if (ovmfMissing && process.env.CI) throw new Error("libvirt tier cannot run in CI: OVMF missing (apt-get install ovmf)");

for (const flavour of ["test", "qemu"] as const) {
  const dd = flavour === "qemu" && ovmfMissing ? describe.skip : d;
  dd(`walking skeleton on the libvirt driver (${flavour === "test" ? "test driver" : "QEMU/TCG guests"} through libvirtd)`, () => {
    let daemon: SandboxedLibvirtd;
    let net: HostNetworkSandbox;
    let cloud: TestCloud;
    let agent: OrbitAgent;
    let hv: LibvirtHypervisor;

    beforeAll(async () => {
      // Every VM has a NIC on its network's bridge, and a firewall: both made in a namespace of the test's.
      net = await startHostNetworkSandbox();
      daemon = await startSandboxedLibvirtd({ netns: net.name });
      const socket = daemon.uri.split("socket=")[1]!;
      cloud = await startTestCloud({ hosts: [] });
      hv = new LibvirtHypervisor({
        uri: flavour === "test" ? `test+unix:///default?socket=${socket}` : daemon.uri,
        domainType: "qemu",
        instancesDir: mkdtempSync(join(tmpdir(), "orbit-e2e-instances-")),
        xml: { cpu: { mode: "custom", model: "qemu64" }, firmware: OVMF },
        hostname: `libvirt-${flavour}-host`,
        ensureBridge: net.ensureBridge,
        nftCommand: net.nftCommand,
      });
      agent = new OrbitAgent({
        managerAddress: cloud.manager.grpcAddress,
        joinToken: cloud.manager.agentToken,
        identity: new MemoryIdentityStore(),
        hypervisor: hv,
        gpus: new StaticGpuInventory([]),
        host: { tags: [], environment: "default", cluster: "default" },
        log: pino({ level: process.env.ORBIT_TEST_LOG ?? "silent" }),
        heartbeatIntervalMs: 300,
      });
      agent.start();
      await agent.connection.connected;
    }, 180_000);

    afterAll(async () => {
      await agent?.stop();
      await cloud?.stop();
      await daemon?.stop();
      await net?.stop();
    });

    it("registers the libvirt host with its capacity", async () => {
      // The stream being connected is not the host being Up: the manager registers it as
      // Connecting and marks it Up a moment later (seen late on a loaded CI machine).
      const hosts = await cloud.waitFor("the libvirt host Up", async () => {
        const all = (await cloud.api("GET", "/v1/admin/hosts")).json.hosts;
        return all.length === 1 && all[0].state === "Up" ? all : undefined;
      });
      expect(hosts[0]).toMatchObject({ name: `libvirt-${flavour}-host`, driver: "libvirt", hypervisor: "qemu", state: "Up" });
      if (flavour === "test") {
        expect(hosts[0].capacity.cpus).toBe(16);
        // The test driver's own "test" domain is not Orbit's: reported, never touched.
        await cloud.waitFor("unmanaged domain", async () => {
          const h = (await cloud.api("GET", "/v1/admin/hosts")).json.hosts[0];
          return h.unmanaged_domains.some((x: any) => x.name === "test");
        });
      } else {
        expect(hosts[0].capacity.cpus).toBeGreaterThan(0);
        expect(hosts[0].capacity.memory_mib).toBeGreaterThan(1024);
      }
    });

    it("creates a VM, sees it running in libvirt, deletes it and sees it undefined", async () => {
      const created = await cloud.api("POST", "/v1/core/virtual-machines", { name: `lv-${flavour}`, flavor_name: "t1-tiny", image_name: "Debian 12" });
      expect(created.status).toBe(200);
      const inst = created.json.instances[0];
      await cloud.waitFor("running", async () => {
        const i = (await cloud.api("GET", `/v1/core/virtual-machines/${inst.id}`)).json.instance;
        if (i?.status === "ERROR") throw new Error(`deploy failed: ${i.state_reason}\n${daemon.logs()}`);
        return i?.status === "ACTIVE";
      }, 60_000);
      const mine = (await hv.listDomains()).find((x) => x.vmUuid === inst.uuid);
      expect(mine).toMatchObject({ managed: true, powerState: 1 });
      expect(await hv.virsh.run(["dominfo", inst.uuid])).toMatch(/State:\s+running/);
      expect((await cloud.api("GET", "/v1/admin/hosts")).json.hosts[0].allocated).toMatchObject({ vcpus: 1, memory_mib: 128, vms: 1 });
      if (flavour === "qemu") {
        // A capability command the whole way: manager dispatcher → gRPC → agent → virsh.
        const dispatcher = new CommandDispatcher(cloud.manager.database.db, cloud.manager.sessions, { aliveUntil: () => Date.now() + 10_000 });
        const [{ id: hostId }] = (await cloud.manager.database.db.select({ id: hosts.id }).from(hosts)) as [{ id: number }];
        const target = { hostId, vmUuid: inst.uuid as string, timeoutMs: 30_000 };
        expect(await dispatcher.suspendVm(target)).toMatchObject({ powerState: PowerState.POWER_STATE_PAUSED });
        expect(await hv.virsh.run(["domstate", inst.uuid])).toMatch(/paused/);
        expect(await dispatcher.resumeVm(target)).toMatchObject({ powerState: PowerState.POWER_STATE_RUNNING });
        expect(await dispatcher.vmStats(target)).toMatchObject({ powerState: PowerState.POWER_STATE_RUNNING, vcpusCurrent: 1, memoryCurrentKib: 128 * 1024 });
      }

      expect((await cloud.api("DELETE", `/v1/core/virtual-machines/${inst.id}`)).status).toBe(200);
      await cloud.waitFor("gone", async () => (await cloud.api("GET", `/v1/core/virtual-machines/${inst.id}`)).status === 404, 60_000);
      expect((await hv.listDomains()).some((x) => x.vmUuid === inst.uuid)).toBe(false);
      expect((await cloud.api("GET", "/v1/admin/hosts")).json.hosts[0].allocated).toMatchObject({ vcpus: 0, memory_mib: 0, vms: 0 });
    }, 120_000);
  });
}
