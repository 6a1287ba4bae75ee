// One real libvirt host for the manager-driven tiers (test/libvirt/e2e-libvirt-*.test.ts): the
// libvirt driver on a sandboxed libvirtd, in the test's own network namespace, with a real
// OrbitAgent joined to the test cloud and seen Up. The one change to what the manager asks for:
// VMs boot on the test guest's kernel and initrd (the guest has no boot loader); XML, power,
// console, disks, NICs and firewall are the driver's own.
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { eq } from "drizzle-orm";
import { execa } from "execa";
import pino from "pino";
import type { DomainStatus, VmSpec } from "#shared/protocol.js";
import { OrbitAgent } from "../../agent/src/agent.js";
import { MemoryIdentityStore } from "../../agent/src/connection/identity-store.js";
import { LibvirtHypervisor, type LibvirtHypervisorOptions } from "../../agent/src/drivers/libvirt/libvirt-hypervisor.js";
import { StaticGpuInventory } from "../../agent/src/gpu/gpu-inventory.js";
import { images } from "../../manager/src/db/schema.js";
import { startTestCloud, type TestCloud } from "../e2e/harness.js";
import { type HostNetworkSandbox, startHostNetworkSandbox } from "./host-network-sandbox.js";
import { type SandboxedLibvirtd, startSandboxedLibvirtd } from "./sandboxed-libvirtd.js";
import { ensureTestGuest, type GuestBoot, kernelBoot, type TestGuest } from "./test-guest.js";

export { type GuestBoot, kernelBoot } from "./test-guest.js";

export class TestGuestHypervisor extends LibvirtHypervisor {
  constructor(opts: LibvirtHypervisorOptions, private readonly guest: TestGuest, private readonly boot: GuestBoot = kernelBoot) {
    super(opts);
  }

  override startVm(spec: VmSpec): Promise<DomainStatus> {
    const directBoot = this.boot(spec, this.guest);
    return super.startVm(directBoot ? { ...spec, directBoot } : spec);
  }
}

export interface LibvirtTestHostOptions {
  cloud: TestCloud;
  daemon: SandboxedLibvirtd;
  net: HostNetworkSandbox;
  guest: TestGuest;
  /** Instances (and, with `images`, the images dir) go under it. */
  work: string;
  hostname: string;
  /** An images dir of its own, whose missing images the agent fetches from the manager (as agent/src/main.ts wires it). */
  images?: boolean;
  boot?: GuestBoot;
}

export async function joinLibvirtTestHost(o: LibvirtTestHostOptions): Promise<{ hv: TestGuestHypervisor; agent: OrbitAgent }> {
  const hv: TestGuestHypervisor = new TestGuestHypervisor({
    uri: o.daemon.uri,
    domainType: "qemu",
    instancesDir: join(o.work, "instances"),
    xml: { machine: "q35", cdromBus: "scsi", cpu: { mode: "custom", model: "qemu64" } },
    pollIntervalMs: 100,
    acpiRepeatMs: 2000,
    hostname: o.hostname,
    ensureBridge: o.net.ensureBridge,
    releaseBridge: o.net.releaseBridge,
    nftCommand: o.net.nftCommand,
    ...(o.images ? { imagesDir: join(o.work, "images"), fetchImage: (p: string, dest: string): Promise<void> => agent.connection.fetchImage(p, dest) } : {}),
  }, o.guest, o.boot);
  // The first connection probes QEMU's capabilities (seconds): before anything is timed.
  await hv.hostFacts();
  // Declared after hv, called only once the agent exists (the first fetch comes with a deploy).
  const agent: OrbitAgent = new OrbitAgent({
    managerAddress: o.cloud.manager.grpcAddress,
    joinToken: o.cloud.manager.agentToken,
    identity: new MemoryIdentityStore(),
    hypervisor: hv,
    gpus: new StaticGpuInventory([]),
    host: { tags: [], environment: "default", cluster: "default" },
    log: pino({ level: process.env.ORBIT_TEST_LOG ?? "silent" }),
    heartbeatIntervalMs: 300,
  });
  agent.start();
  await agent.connection.connected;
  await o.cloud.waitFor("the libvirt host Up", async () => (await o.cloud.api("GET", "/v1/admin/hosts")).json.hosts[0]?.state === "Up", 30_000);
  return { hv, agent };
}

/**
 * "Debian 12" becomes a blank 64 MiB qcow2 in `imagesDir` (the guest boots from its kernel and
 * initrd), so each VM has a real root overlay.
 */
export async function useBlankBaseImage(cloud: TestCloud, imagesDir: string): Promise<void> {
  const base = join(imagesDir, "base.qcow2");
  await execa("qemu-img", ["create", "-q", "-f", "qcow2", base, "64M"]);
  await cloud.manager.database.db.update(images).set({ path: base }).where(eq(images.name, "Debian 12"));
}

export interface LibvirtTestStackOptions {
  /** mkdtemp prefix of the work dir (instances, images). */
  workPrefix: string;
  hostname: string;
  /** Global settings of the test cloud. */
  settings?: Record<string, unknown>;
  /**
   * "Debian 12" becomes a blank 64 MiB qcow2 in the host's images dir (the guest boots from its
   * kernel and initrd), so each VM has a real root overlay; implies the host's own images dir.
   */
  blankBaseImage?: boolean;
  /** The host gets an images dir of its own (work/images), whose missing images it fetches from the manager. */
  images?: boolean;
  boot?: GuestBoot;
}

/** Everything one manager-driven libvirt tier runs on, and its teardown. */
export interface LibvirtTestStack {
  guest: TestGuest;
  net: HostNetworkSandbox;
  daemon: SandboxedLibvirtd;
  cloud: TestCloud;
  hv: TestGuestHypervisor;
  agent: OrbitAgent;
  work: string;
  stop(): Promise<void>;
}

/**
 * A namespace standing in for the host's network, a sandboxed libvirtd in it, a test cloud and
 * its one libvirt host joined and Up: what the e2e-libvirt-* files share. stop() takes down what
 * was started even when the start failed half-way (call it from afterAll).
 */
export function libvirtTestStack(): { start(o: LibvirtTestStackOptions): Promise<LibvirtTestStack>; stop(): Promise<void> } {
  const made: Partial<LibvirtTestStack> = {};
  const stop = async (): Promise<void> => {
    await made.agent?.stop();
    await made.cloud?.stop();
    await made.hv?.close();
    await made.daemon?.stop();
    await made.net?.stop();
    if (made.work) rmSync(made.work, { recursive: true, force: true });
  };
  const start = async (o: LibvirtTestStackOptions): Promise<LibvirtTestStack> => {
    const guest = made.guest = await ensureTestGuest();
    const net = made.net = await startHostNetworkSandbox();
    const daemon = made.daemon = await startSandboxedLibvirtd({ netns: net.name });
    const work = made.work = mkdtempSync(join(tmpdir(), o.workPrefix));
    const cloud = made.cloud = await startTestCloud({ hosts: [], ...(o.settings ? { settings: o.settings } : {}) });
    const ownImages = (o.images ?? false) || (o.blankBaseImage ?? false);
    if (ownImages) mkdirSync(join(work, "images"));
    if (o.blankBaseImage) await useBlankBaseImage(cloud, join(work, "images"));
    const { hv, agent } = await joinLibvirtTestHost({ cloud, daemon, net, guest, work, hostname: o.hostname, images: ownImages, ...(o.boot ? { boot: o.boot } : {}) });
    made.hv = hv;
    made.agent = agent;
    return { guest, net, daemon, cloud, hv, agent, work, stop };
  };
  return { start, stop };
}
