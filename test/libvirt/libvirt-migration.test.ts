// Live migration between two real libvirtd, through the driver's `migration` capability: two
// sandboxed daemons, each in a network namespace of its own, joined by a veth (two hosts on one
// segment), the destination listening on libvirt's TCP port there. Both share this machine's
// filesystem, which stands in for shared storage: both drivers use the same instances dir.
// Skipped (with the reason) when libvirt/QEMU are not installed, except in CI where that fails.
import { randomUUID } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execa } from "execa";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HypervisorError, NotFoundError } from "#shared/errors.js";
import { type DeepPartial, PowerState, VmSpec } from "#shared/protocol.js";
import {
  type MigrateVmOptions, MigrationCancelledError, type MigrationProgress, MigrationRefusedError, MigrationTimeoutError,
} from "../../agent/src/drivers/hypervisor.js";
import { missingTools } from "../../agent/src/drivers/libvirt/tool-availability.js";
import { type HostNetworkSandbox, linkHostNetworkSandboxes, startHostNetworkSandbox } from "./host-network-sandbox.js";
import { TestGuestHypervisor } from "./libvirt-test-host.js";
import { REQUIRED_TOOLS, type SandboxedLibvirtd, startSandboxedLibvirtd } from "./sandboxed-libvirtd.js";
import { ensureTestGuest, type TestGuest } from "./test-guest.js";

const missing = missingTools([...REQUIRED_TOOLS, "ip"]);
const notRoot = process.getuid?.() !== 0;
const reason = missing.length > 0 ? `${missing.join(", ")} not installed` : notRoot ? "needs root" : "";
const skip = reason !== "" && !process.env.CI;
if (skip) console.warn(`real-libvirt migration tests skipped: ${reason}`);

async function waitFor<T>(what: string, fn: () => Promise<T | undefined> | T | undefined, timeoutMs = 30_000, everyMs = 200): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

// Addresses inside the test's own namespaces only (nothing of the machine's network is touched).
const ADDR_A = "10.251.7.1";
const ADDR_B = "10.251.7.2";
const BRIDGE = "orb-mig";

const bridgesIn = async (net: HostNetworkSandbox): Promise<string[]> =>
  (JSON.parse(await net.exec("ip", ["-j", "link", "show", "type", "bridge"])) as { ifname: string }[]).map((l) => l.ifname);

describe.skipIf(skip)(`live migration between two real libvirtd${reason ? ` (${reason})` : ""}`, () => {
  let guest: TestGuest;
  let netA: HostNetworkSandbox | undefined;
  let netB: HostNetworkSandbox | undefined;
  let daemonA: SandboxedLibvirtd | undefined;
  let daemonB: SandboxedLibvirtd | undefined;
  let hvA: TestGuestHypervisor;
  let hvB: TestGuestHypervisor;
  let work: string;
  let vm: VmSpec;
  const warnings: string[] = [];

  const hypervisor = (daemon: SandboxedLibvirtd, net: HostNetworkSandbox, hostname: string): TestGuestHypervisor =>
    new TestGuestHypervisor({
      uri: daemon.uri,
      domainType: "qemu",
      // The same directory for both: shared storage (disks, seed, serial log, console socket).
      instancesDir: join(work, "instances"),
      xml: { machine: "q35", cdromBus: "scsi", cpu: { mode: "custom", model: "qemu64" } },
      pollIntervalMs: 100,
      hostname,
      ensureBridge: net.ensureBridge,
      releaseBridge: net.releaseBridge,
      nftCommand: net.nftCommand,
      onWarning: (m) => warnings.push(m),
    }, guest);
  const spec = (over: DeepPartial<VmSpec> = {}): VmSpec =>
    VmSpec.fromPartial({ vmUuid: randomUUID(), name: "mig", vcpus: 1, maxVcpus: 1, memoryMib: 256, maxMemoryMib: 256, numaNode: -1, ...over });
  const toB = (over: Partial<MigrateVmOptions> = {}): MigrateVmOptions => ({
    destinationUri: daemonB!.tcpUri!,
    migrateUri: `tcp://${ADDR_B}`,
    live: true,
    allowUnsafe: true,
    timeoutMs: 120_000,
    progressIntervalMs: 100,
    ...over,
  });
  const serial = (uuid: string): string => {
    const p = join(work, "instances", uuid, "serial.log");
    return existsSync(p) ? readFileSync(p, "utf8") : "";
  };
  const stateOn = async (hv: TestGuestHypervisor, uuid: string): Promise<PowerState | undefined> =>
    (await hv.listDomains()).find((d) => d.vmUuid === uuid)?.powerState;
  /** A line typed on the VM's serial console (through that host's driver) is echoed by the guest. */
  const expectEcho = async (hv: TestGuestHypervisor, uuid: string): Promise<void> => {
    const marker = `after-migration-${randomUUID().slice(0, 8)}`;
    const console_ = await hv.openConsole(uuid);
    let got = "";
    console_.on("data", (d: Buffer) => (got += d.toString()));
    try {
      console_.write(`${marker}\n`);
      await waitFor(`the guest's echo of ${marker}`, () => got.includes(`GUEST-ECHO ${marker}`), 20_000);
    } finally {
      console_.destroy();
    }
  };
  const logs = (): string => `${daemonA?.logs() ?? ""}\n${daemonB?.logs() ?? ""}`;

  beforeAll(async () => {
    if (reason) throw new Error(`real-libvirt tests cannot run: ${reason} (CI must install libvirt-daemon, qemu-system-x86, qemu-utils, genisoimage, iproute2)`);
    guest = await ensureTestGuest();
    work = mkdtempSync(join(tmpdir(), "orbit-migration-"));
    netA = await startHostNetworkSandbox();
    netB = await startHostNetworkSandbox();
    await linkHostNetworkSandboxes(netA, netB, { a: ADDR_A, b: ADDR_B, prefixLength: 24 });
    daemonA = await startSandboxedLibvirtd({ netns: netA.name, tcpListenAddress: ADDR_A });
    daemonB = await startSandboxedLibvirtd({ netns: netB.name, tcpListenAddress: ADDR_B });
    hvA = hypervisor(daemonA, netA, "host-a");
    hvB = hypervisor(daemonB, netB, "host-b");
    // The first connection probes QEMU's capabilities (seconds): before anything is timed.
    await Promise.all([hvA.hostFacts(), hvB.hostFacts()]);
  }, 180_000);

  afterAll(async () => {
    await hvA?.close();
    await hvB?.close();
    await daemonA?.stop();
    await daemonB?.stop();
    await netA?.stop();
    await netB?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  }, 60_000);

  it("refuses an unknown VM and a domain Orbit does not manage", async () => {
    await expect(hvA.migrateVm(randomUUID(), toB())).rejects.toBeInstanceOf(NotFoundError);
    const uuid = randomUUID();
    const file = join(work, "bare.xml");
    writeFileSync(file, `<domain type='qemu'><name>bare</name><uuid>${uuid}</uuid><memory unit='MiB'>64</memory><os><type arch='x86_64'>hvm</type></os></domain>`);
    await execa("virsh", ["-c", daemonA!.uri, "define", file]);
    const err = await hvA.migrateVm(uuid, toB()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MigrationRefusedError);
    expect((err as MigrationRefusedError).reason).toBe("unmanaged");
    await execa("virsh", ["-c", daemonA!.uri, "undefine", uuid]);
  });

  it("boots the guest on A", async () => {
    vm = spec({
      disks: [{ id: "data", device: "disk", format: "qcow2", bus: "virtio", owned: true, sizeGib: 1 }],
      nics: [{ mac: "52:54:00:5e:00:01", bridge: BRIDGE, model: "virtio" }],
    });
    const st = await hvA.startVm(vm);
    expect(st.powerState).toBe(PowerState.POWER_STATE_RUNNING);
    // What the migration does not bring: B's bridge for the VM's NIC (the manager asks B first).
    expect(await bridgesIn(netB!)).not.toContain(BRIDGE);
    await hvB.prepareIncomingMigration(vm);
    expect(await bridgesIn(netB!)).toContain(BRIDGE);
    await waitFor("GUEST-READY on A", () => serial(vm.vmUuid).includes("GUEST-READY"), 60_000);
  }, 90_000);

  it("refuses a VM with snapshots (libvirt does not move them)", async () => {
    await hvA.createSnapshot(vm.vmUuid, { name: "s1", memory: false, quiesce: false, timeoutMs: 60_000 });
    const err = await hvA.migrateVm(vm.vmUuid, toB()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MigrationRefusedError);
    expect((err as MigrationRefusedError).reason).toBe("has_snapshots");
    await hvA.deleteSnapshot(vm.vmUuid, "s1");
  }, 90_000);

  it("a destination that cannot be reached fails the migration and leaves the VM running on A", async () => {
    // Nothing listens there (a migrateUri's port would not do: the destination's QEMU listens on it).
    const err = await hvA.migrateVm(vm.vmUuid, toB({ destinationUri: `qemu+tcp://${ADDR_B}:1/system` })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HypervisorError);
    expect(err).toMatchObject({ code: "hypervisor_error", retryable: false, details: { libvirtCode: "migration_failed" } });
    expect(await stateOn(hvA, vm.vmUuid)).toBe(PowerState.POWER_STATE_RUNNING);
    expect(await stateOn(hvB, vm.vmUuid)).toBeUndefined();
  }, 60_000);

  it("a migration cancelled mid-way leaves the VM running on A", async () => {
    const seen: MigrationProgress[] = [];
    let cancelled: Promise<boolean> | undefined;
    // 2 MiB/s: the first pass over 256 MiB takes minutes, so the cancel lands mid-copy.
    const p = hvA.migrateVm(vm.vmUuid, toB({
      maxBandwidthMibps: 2,
      onProgress: (s) => {
        seen.push(s);
        if ((s.dataProcessedBytes ?? 0) > 0) cancelled ??= hvA.cancelMigration(vm.vmUuid);
      },
    }));
    const err = await p.catch((e: unknown) => e);
    if (!(err instanceof MigrationCancelledError)) throw new Error(`expected a cancelled migration, got ${String(err)}\n${logs()}`);
    expect(await cancelled).toBe(true);
    expect(seen.length).toBeGreaterThan(0);
    // Mid-copy: a sample with data sent and data still to send (the job's last sample, read as
    // the abort lands, may already say 0 remaining).
    expect(seen.some((s) => (s.dataProcessedBytes ?? 0) > 0 && (s.dataRemainingBytes ?? 0) > 0)).toBe(true);
    expect(await stateOn(hvA, vm.vmUuid)).toBe(PowerState.POWER_STATE_RUNNING);
    expect(await stateOn(hvB, vm.vmUuid)).toBeUndefined();
    expect(await hvA.cancelMigration(vm.vmUuid)).toBe(false);
  }, 60_000);

  it("a migration past its timeout is aborted and leaves the VM running on A", async () => {
    const err = await hvA.migrateVm(vm.vmUuid, toB({ maxBandwidthMibps: 2, timeoutMs: 1500 })).catch((e: unknown) => e);
    if (!(err instanceof MigrationTimeoutError)) throw new Error(`expected a timed-out migration, got ${String(err)}\n${logs()}`);
    expect(await stateOn(hvA, vm.vmUuid)).toBe(PowerState.POWER_STATE_RUNNING);
    expect(await stateOn(hvB, vm.vmUuid)).toBeUndefined();
  }, 60_000);

  it("live-migrates the booted guest to B: progress seen, running on B, gone from A, its console answers on B", async () => {
    const seen: MigrationProgress[] = [];
    const r = await hvA.migrateVm(vm.vmUuid, toB({ maxDowntimeMs: 300, onProgress: (s) => seen.push(s) })).catch((e: unknown) => {
      throw new Error(`migration failed: ${String(e)}\n${logs()}`);
    });
    console.info(`live migration of a booted 256 MiB TCG guest between two libvirtd: total ${r.totalMs} ms, job ${r.jobMs} ms, downtime ${r.downtimeMs} ms (libvirt), ${((r.dataBytes ?? 0) / 2 ** 20).toFixed(1)} MiB moved, ${r.progressSamples} progress samples`);
    expect(r.progressSamples).toBe(seen.length);
    expect(seen.length).toBeGreaterThan(0);
    expect(seen.some((s) => (s.dataTotalBytes ?? 0) > 0)).toBe(true);
    expect(r.downtimeMs).toBeGreaterThan(0);
    expect(r.dataBytes).toBeGreaterThan(0);
    expect(await stateOn(hvB, vm.vmUuid)).toBe(PowerState.POWER_STATE_RUNNING);
    expect((await hvB.listDomains()).find((d) => d.vmUuid === vm.vmUuid)?.managed).toBe(true);
    expect((await hvA.listDomains()).some((d) => d.vmUuid === vm.vmUuid)).toBe(false);
    // A's environment bridge served only this VM: released with it.
    expect(await bridgesIn(netA!)).not.toContain(BRIDGE);

    // The guest still runs: a line typed on its serial console on B is echoed back.
    await expectEcho(hvB, vm.vmUuid);
    // The serial log (shared storage) goes on: B's driver reads it.
    expect((await hvB.consoleLog(vm.vmUuid, 64 * 1024)).text).toMatch(/GUEST-ECHO after-migration-/);
  }, 180_000);

  it("migrates it back to A (its console socket renamed again), where it still answers; A destroys it", async () => {
    await hvA.prepareIncomingMigration(vm);
    const r = await hvB.migrateVm(vm.vmUuid, toB({ destinationUri: daemonA!.tcpUri!, migrateUri: `tcp://${ADDR_A}` })).catch((e: unknown) => {
      throw new Error(`migration back failed: ${String(e)}\n${logs()}`);
    });
    console.info(`live migration back (B to A): total ${r.totalMs} ms, job ${r.jobMs} ms, downtime ${r.downtimeMs} ms (libvirt)`);
    expect(await stateOn(hvA, vm.vmUuid)).toBe(PowerState.POWER_STATE_RUNNING);
    expect(await stateOn(hvB, vm.vmUuid)).toBeUndefined();
    await expectEcho(hvA, vm.vmUuid);
    await hvA.destroyVm(vm.vmUuid, { removeOwnedDisks: true });
    expect(await stateOn(hvA, vm.vmUuid)).toBeUndefined();
    expect(warnings.filter((w) => !/progress/.test(w))).toEqual([]);
  }, 60_000);
});
