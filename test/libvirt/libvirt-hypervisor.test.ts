// Real libvirtd + QEMU/TCG with the busybox test guest: the LibvirtHypervisor against the real thing.
// Skipped (with the reason) when libvirt/QEMU are not installed, except in CI where that fails.
import { randomUUID } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execa } from "execa";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConflictError, DeadlineExceededError } from "#shared/errors.js";
import { type Command, type DeepPartial, PowerState, StopMode, VmSpec } from "#shared/protocol.js";
import { CommandExecutor } from "../../agent/src/commands/command-executor.js";
import { capabilityNames, type DomainLifecycleEvent } from "../../agent/src/drivers/hypervisor.js";
import { buildDomainXml, domainNameFor, type DomainXmlOptions } from "../../agent/src/drivers/libvirt/domain-xml.js";
import { LibvirtHypervisor } from "../../agent/src/drivers/libvirt/libvirt-hypervisor.js";
import { missingTools } from "../../agent/src/drivers/libvirt/tool-availability.js";
import { VirshError } from "../../agent/src/drivers/libvirt/virsh-error.js";
import { REQUIRED_TOOLS, type SandboxedLibvirtd, startSandboxedLibvirtd } from "./sandboxed-libvirtd.js";
import { lastGuestReport, printedBetween } from "./guest-console.js";
import { ensureTestGuest, type TestGuest } from "./test-guest.js";

const missing = missingTools(REQUIRED_TOOLS);
const notRoot = process.getuid?.() !== 0;
const reason = missing.length > 0 ? `${missing.join(", ")} not installed` : notRoot ? "needs root" : "";
const skip = reason !== "" && !process.env.CI;
if (skip) console.warn(`real-libvirt tests skipped: ${reason}`);

async function waitFor<T>(what: string, fn: () => Promise<T | undefined> | T | undefined, timeoutMs = 30_000, everyMs = 200): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

describe.skipIf(skip)(`LibvirtHypervisor on a real libvirtd${reason ? ` (${reason})` : ""}`, () => {
  let daemon: SandboxedLibvirtd | undefined;
  let guest: TestGuest;
  let hv: LibvirtHypervisor;
  let work: string;
  let base: string;
  const events: (DomainLifecycleEvent & { at: number })[] = [];
  const warnings: string[] = [];

  const spec = (over: DeepPartial<VmSpec> = {}): VmSpec =>
    VmSpec.fromPartial({
      vmUuid: randomUUID(),
      name: "t",
      vcpus: 1,
      maxVcpus: 2,
      memoryMib: 256,
      maxMemoryMib: 256,
      numaNode: -1,
      directBoot: { kernel: guest.kernel, initrd: guest.initrd, cmdline: "console=ttyS0 panic=-1 quiet" },
      ...over,
    });
  const serial = (uuid: string): string => (existsSync(hv.serialLogPath(uuid)) ? readFileSync(hv.serialLogPath(uuid), "utf8") : "");
  const count = (text: string, needle: string): number => text.split(needle).length - 1;
  /** The event must arrive within a second of the call that caused it returning (it may come earlier). */
  const expectEvent = (uuid: string, event: string, since: number): Promise<DomainLifecycleEvent> =>
    waitFor(`event ${event} of ${uuid}`, () => events.find((e) => e.vmUuid === uuid && e.event === event && e.at >= since), 1000, 20);

  beforeAll(async () => {
    if (reason) throw new Error(`real-libvirt tests cannot run: ${reason} (CI must install libvirt-daemon, qemu-system-x86, qemu-utils, genisoimage)`);
    guest = await ensureTestGuest();
    daemon = await startSandboxedLibvirtd();
    work = mkdtempSync(join(tmpdir(), "orbit-libvirt-work-"));
    hv = new LibvirtHypervisor({
      uri: daemon.uri,
      domainType: "qemu",
      instancesDir: join(work, "instances"),
      imagesDir: join(work, "images"),
      xml: { machine: "q35", cdromBus: "scsi", emulator: "/usr/bin/qemu-system-x86_64" },
      pollIntervalMs: 100,
      acpiRepeatMs: 2000,
      eventRestartDelayMs: 200,
      onWarning: (m) => warnings.push(m),
    });
    await execa("mkdir", ["-p", join(work, "images")]);
    base = join(work, "images", "base.qcow2");
    await execa("qemu-img", ["create", "-q", "-f", "qcow2", base, "64M"]);
    // First connection probes QEMU's capabilities (seconds); do it before anything is timed.
    await hv.hostFacts();
    hv.onDomainEvent((e) => events.push({ ...e, at: Date.now() }));
    await waitFor("virsh event to run", () => hv.eventStream?.pid);
  }, 180_000);

  afterAll(async () => {
    await hv?.close();
    await daemon?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  }, 60_000);

  it("reports host facts from nodeinfo and capabilities", async () => {
    const f = await hv.hostFacts();
    expect(f.hostUuid).toBe(daemon!.hostUuid);
    expect(f.driver).toBe("libvirt");
    expect(f.hypervisor).toBe("qemu");
    expect(f.cpuArch).toBe("x86_64");
    expect(f.cpus).toBe(f.sockets * f.coresPerSocket * f.threadsPerCore);
    expect(f.numaCells.flatMap((c) => c.cpus)).toHaveLength(f.cpus);
    expect(f.memoryMib).toBeGreaterThan(0);
    expect(f.hypervisorVersion).toMatch(/^QEMU \d+\.\d+/);
    const free = await hv.freeMemoryMib();
    expect(free).toBeGreaterThan(0);
    expect(free).toBeLessThanOrEqual(f.memoryMib * 4);
  });

  it("maps libvirt errors to typed errors", async () => {
    const err = await hv.status(randomUUID()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(VirshError);
    expect((err as VirshError).kind).toBe("no_domain");
    expect((err as VirshError).virshError).toMatch(/^error: failed to get domain/);
  });

  describe("a booted guest", () => {
    const seedMarker = `orbit-seed-${randomUUID()}`;
    let vm: VmSpec;
    let overlay: string;

    it("starts: overlay on the base image, GUEST-READY on the serial log, cloud-init user-data read from the seed", async () => {
      vm = spec({
        name: "booted",
        disks: [{ id: "root", device: "disk", format: "qcow2", bus: "virtio", owned: true, backingPath: "base.qcow2" }],
        cloudInit: { userData: `#cloud-config\nruncmd:\n  - echo ${seedMarker}\n`, sshAuthorizedKeys: ["ssh-ed25519 AAAAtest orbit"] },
        labels: { suite: "libvirt" },
      });
      const since = Date.now();
      const st = await hv.startVm(vm);
      expect(st).toMatchObject({ vmUuid: vm.vmUuid, powerState: PowerState.POWER_STATE_RUNNING, reason: "booted", managed: true });
      await expectEvent(vm.vmUuid, "started", since);
      overlay = join(work, "instances", vm.vmUuid, "root.qcow2");
      const info = JSON.parse((await execa("qemu-img", ["info", "--output=json", "-U", overlay])).stdout) as Record<string, string>;
      expect(info["backing-filename"]).toBe(base);
      await waitFor("GUEST-READY", () => serial(vm.vmUuid).includes("GUEST-READY"));
      const log = await waitFor("seed user-data", () => (serial(vm.vmUuid).includes("SEED-USER-DATA-END") ? serial(vm.vmUuid) : undefined));
      const userData = log.slice(log.indexOf("SEED-USER-DATA-BEGIN"), log.indexOf("SEED-USER-DATA-END"));
      expect(userData).toContain(`echo ${seedMarker}`);
      expect(userData).toContain("ssh-ed25519 AAAAtest orbit");
    });

    it("is idempotent to start again and listed as managed", async () => {
      const st = await hv.startVm(vm);
      expect(st.powerState).toBe(PowerState.POWER_STATE_RUNNING);
      const all = await hv.listDomains();
      expect(all.find((d) => d.vmUuid === vm.vmUuid)).toMatchObject({ managed: true, powerState: PowerState.POWER_STATE_RUNNING, reason: "booted" });
    });

    it("reports domain stats", async () => {
      const [s] = await hv.stats.domainStats(vm.vmUuid);
      expect(s!.vmUuid).toBe(vm.vmUuid);
      expect(s!.cpuTimeNs).toBeGreaterThan(0);
      expect(s!.balloon.currentKib).toBe(256 * 1024);
      expect(s!.vcpuCurrent).toBe(1);
      expect(s!.vcpuMaximum).toBe(2);
      const vda = s!.blocks.find((b) => b.name === "vda");
      expect(vda?.path).toBe(overlay);
      expect(vda!.rdBytes).toBeGreaterThan(0);
      const all = await hv.stats.domainStats();
      expect(all.map((x) => x.vmUuid)).toContain(vm.vmUuid);
    });

    it("hot-plugs a vCPU and moves the balloon", async () => {
      await hv.resize.setVcpus(vm.vmUuid, 2);
      await hv.resize.setMemory(vm.vmUuid, 192);
      const s = await waitFor("balloon at 192 MiB", async () => {
        const [x] = await hv.stats.domainStats(vm.vmUuid);
        return x!.balloon.currentKib === 192 * 1024 ? x : undefined;
      });
      expect(s.vcpuCurrent).toBe(2);
      const xml = (await execa("virsh", ["-c", daemon!.uri, "dumpxml", "--inactive", vm.vmUuid])).stdout;
      // libvirt drops current= when it equals the maximum
      expect(xml).toMatch(/<vcpu placement='static'(?: current='2')?>2<\/vcpu>/);
      expect(xml).toMatch(/<currentMemory unit='KiB'>196608<\/currentMemory>/);
    });

    it("attaches and detaches a disk while running, and the guest sees it come and go", async () => {
      const guestDisks = () => lastGuestReport(serial(vm.vmUuid), "GUEST-DISKS");
      // Root overlay (64 MiB), the empty ISO cdrom slot (sda on virtio-scsi: the guest's sr0, no
      // medium) and the seed cdrom (sdb: sr1).
      const atBoot = await waitFor("the guest's first GUEST-DISKS", guestDisks);
      expect([...atBoot.keys()]).toEqual(["sr0", "sr1", "vda"]);
      expect(atBoot.get("sr0")).toBe("0");
      // The driver gives each disk its id as serial.
      expect(atBoot.get("vda")).toBe(`${64 * 1024 * 1024}/root`);
      const extra = join(work, "instances", vm.vmUuid, "extra.qcow2");
      let t = Date.now();
      const dev = await hv.disks.attachDisk(vm.vmUuid, { sourcePath: extra, createSizeGib: 1, bus: "virtio", serial: "orbit-vol-1" });
      expect(dev).toBe("vdb");
      const attachMs = Date.now() - t;
      const [s] = await hv.stats.domainStats(vm.vmUuid);
      expect(s!.blocks.map((b) => b.name).sort()).toEqual(["sda", "sdb", "vda", "vdb"]);
      // Same name inside (virtio-blk devices are named in probe order), at the size asked for, with its serial.
      const seen = await waitFor("the guest to see vdb", () => (guestDisks()?.has("vdb") ? guestDisks() : undefined), 20_000);
      expect(seen.get("vdb")).toBe(`${1024 ** 3}/orbit-vol-1`);
      const seenMs = Date.now() - t;
      // On the virtio-scsi controller (the cdroms'): the host calls it sdc, the guest its first SCSI disk, sda.
      const scsi = await hv.disks.attachDisk(vm.vmUuid, { sourcePath: join(work, "instances", vm.vmUuid, "extra-scsi.qcow2"), createSizeGib: 2, bus: "scsi" });
      expect(scsi).toBe("sdc");
      const withScsi = await waitFor("the guest to see the SCSI disk", () => (guestDisks()?.has("sda") ? guestDisks() : undefined), 20_000);
      expect(withScsi.get("sda")).toBe(String(2 * 1024 ** 3));
      t = Date.now();
      await hv.disks.detachDisk(vm.vmUuid, "vdb");
      const detachMs = Date.now() - t;
      await hv.disks.detachDisk(vm.vmUuid, "sdc");
      const [after] = await hv.stats.domainStats(vm.vmUuid);
      expect(after!.blocks.map((b) => b.name).sort()).toEqual(["sda", "sdb", "vda"]);
      const gone = await waitFor("the guest to lose both", () => (guestDisks()?.size === 3 ? guestDisks() : undefined), 20_000);
      expect([...gone.keys()]).toEqual(["sr0", "sr1", "vda"]);
      const inactive = (await execa("virsh", ["-c", daemon!.uri, "dumpxml", "--inactive", vm.vmUuid])).stdout;
      expect(inactive).not.toContain(extra);
      expect(inactive).not.toContain("extra-scsi.qcow2");
      console.info(`disk hot-plug: attach ${attachMs} ms, seen by the guest ${seenMs} ms after the call; detach (guest released it) ${detachMs} ms`);
    });

    it("reboots through ACPI (the guest boots again, with the hot-plugged vCPU)", async () => {
      const before = count(serial(vm.vmUuid), "GUEST-READY");
      await hv.power.reboot(vm.vmUuid);
      const log = await waitFor("second GUEST-READY", () => (count(serial(vm.vmUuid), "GUEST-READY") > before ? serial(vm.vmUuid) : undefined));
      expect(log.slice(log.lastIndexOf("GUEST-READY"))).toMatch(/^GUEST-READY \S+ cpus=2 /);
    });

    it("suspends and resumes, with events, and survives the event stream's virsh dying", async () => {
      const pid = hv.eventStream!.pid!;
      const starts = hv.eventStream!.starts;
      process.kill(pid, "SIGKILL");
      await waitFor("event stream restart", () => hv.eventStream!.starts > starts && hv.eventStream!.pid !== undefined && hv.eventStream!.pid !== pid);
      await new Promise((r) => setTimeout(r, 300)); // let the new virsh register its callback
      let since = Date.now();
      expect((await hv.power.suspend(vm.vmUuid)).powerState).toBe(PowerState.POWER_STATE_PAUSED);
      await expectEvent(vm.vmUuid, "suspended", since);
      since = Date.now();
      expect((await hv.power.resume(vm.vmUuid)).powerState).toBe(PowerState.POWER_STATE_RUNNING);
      await expectEvent(vm.vmUuid, "resumed", since);
      expect(warnings.some((w) => w.includes("virsh event exited"))).toBe(true);
    });

    it("runs capability commands through the CommandExecutor (what the manager sends), with the driver's refusals as typed errors", async () => {
      expect(capabilityNames(hv)).toEqual(["power", "resize", "disks", "stats", "console", "firewall", "snapshots", "migration"]);
      const ex = new CommandExecutor(hv, { defaultDetachTimeoutMs: 20_000 });
      const run = (body: Command["body"]) => ex.execute({ commandId: randomUUID(), deadlineMs: Date.now() + 60_000, vmUuid: vm.vmUuid, body });
      expect((await run({ $case: "suspendVm", value: {} })).domain).toMatchObject({ powerState: PowerState.POWER_STATE_PAUSED });
      expect((await run({ $case: "resumeVm", value: {} })).domain).toMatchObject({ powerState: PowerState.POWER_STATE_RUNNING });
      const stats = await run({ $case: "getVmStats", value: {} });
      expect(stats.output?.$case).toBe("vmStats");
      const s = stats.output!.$case === "vmStats" ? stats.output!.value : undefined;
      expect(s).toMatchObject({ powerState: PowerState.POWER_STATE_RUNNING, vcpusCurrent: 2, vcpusMaximum: 2 });
      expect(s!.cpuTimeNs).toBeGreaterThan(0);
      expect(s!.blocks.find((b) => b.name === "vda")?.path).toBe(overlay);
      // Past the maximum: libvirt's own refusal, and neither part applied (the executor checks both first).
      const tooBig = await run({ $case: "resizeVm", value: { vcpus: 1, memoryMib: 1024 } });
      expect(tooBig.error).toMatchObject({ code: "invalid_argument" });
      expect((await hv.stats.domainStats(vm.vmUuid))[0]!.vcpuCurrent).toBe(2);
      const attached = await run({
        $case: "attachDisk",
        value: { sourcePath: join(work, "instances", vm.vmUuid, "cmd-extra.qcow2"), format: "", bus: "", targetDev: "", serial: "", createSizeGib: 1, backingPath: "" },
      });
      expect(attached).toMatchObject({ ok: true, output: { $case: "diskAttached", value: { targetDev: "vdb" } } });
      expect((await run({ $case: "detachDisk", value: { target: "vdb", timeoutMs: 0 } })).ok).toBe(true);
      expect((await hv.stats.domainStats(vm.vmUuid))[0]!.blocks.map((b) => b.name).sort()).toEqual(["sda", "sdb", "vda"]);
      const refused = await run({ $case: "restoreVm", value: {} });
      expect(refused.error).toMatchObject({ code: "conflict", retryable: false });
      // libvirt's refusals carry the same codes as the simulator's.
      expect((await run({ $case: "detachDisk", value: { target: "vdz", timeoutMs: 0 } })).error).toMatchObject({ code: "not_found" });
      await expect(hv.resize.setVcpus(vm.vmUuid, 3)).rejects.toMatchObject({ code: "invalid_argument", field: "vcpus" });
    });

    it("hibernates (managed save) and restores without rebooting the guest", async () => {
      const readyBefore = count(serial(vm.vmUuid), "GUEST-READY");
      let since = Date.now();
      const saved = await hv.power.hibernate(vm.vmUuid);
      expect(saved).toMatchObject({ powerState: PowerState.POWER_STATE_SHUTOFF, reason: "saved" });
      const stopped = await expectEvent(vm.vmUuid, "stopped", since);
      expect(stopped.detail).toBe("saved");
      since = Date.now();
      // startVm on a hibernated VM restores it (the manager's "start" after hibernate).
      const restored = await hv.startVm(vm);
      expect(restored).toMatchObject({ powerState: PowerState.POWER_STATE_RUNNING, reason: "restored" });
      await expectEvent(vm.vmUuid, "started", since);
      await hv.power.hibernate(vm.vmUuid);
      expect(await hv.power.restore(vm.vmUuid)).toMatchObject({ powerState: PowerState.POWER_STATE_RUNNING, reason: "restored" });
      await expect(hv.power.restore(vm.vmUuid)).rejects.toBeInstanceOf(ConflictError);
      expect(count(serial(vm.vmUuid), "GUEST-READY")).toBe(readyBefore);
    });

    it("shuts down through ACPI", async () => {
      const since = Date.now();
      const st = await hv.stopVm(vm.vmUuid, { mode: StopMode.STOP_MODE_ACPI, timeoutMs: 30_000 });
      expect(st).toMatchObject({ powerState: PowerState.POWER_STATE_SHUTOFF, reason: "shutdown" });
      expect(serial(vm.vmUuid)).toContain("GUEST-POWERBUTTON");
      expect((await expectEvent(vm.vmUuid, "stopped", since)).detail).toBe("shutdown");
      // Idempotent when already off.
      expect((await hv.stopVm(vm.vmUuid, { mode: StopMode.STOP_MODE_FORCE, timeoutMs: 0 })).powerState).toBe(PowerState.POWER_STATE_SHUTOFF);
    });

    it("destroys: undefined, owned overlay and seed removed, base image kept; idempotent", async () => {
      const dir = join(work, "instances", vm.vmUuid);
      expect(existsSync(join(dir, "seed.iso"))).toBe(true);
      await hv.destroyVm(vm.vmUuid, { removeOwnedDisks: true });
      expect(existsSync(overlay)).toBe(false);
      expect(existsSync(join(dir, "seed.iso"))).toBe(false);
      expect(existsSync(base)).toBe(true);
      expect((await hv.listDomains()).map((d) => d.vmUuid)).not.toContain(vm.vmUuid);
      await hv.destroyVm(vm.vmUuid, { removeOwnedDisks: true });
    });
  });

  describe("a guest that ignores ACPI (kernel panicked without an initrd)", () => {
    let vm: VmSpec;

    it("gives up on ACPI with DeadlineExceeded, powers off with ACPI_THEN_FORCE", async () => {
      vm = spec({ name: "deaf", directBoot: { kernel: guest.kernel, initrd: "", cmdline: "console=ttyS0 panic=0" } });
      await hv.startVm(vm);
      await waitFor("kernel panic", () => /Kernel panic/.test(serial(vm.vmUuid)));
      await expect(hv.stopVm(vm.vmUuid, { mode: StopMode.STOP_MODE_ACPI, timeoutMs: 1500 })).rejects.toBeInstanceOf(DeadlineExceededError);
      expect((await hv.status(vm.vmUuid)).powerState).toBe(PowerState.POWER_STATE_RUNNING);
      const st = await hv.stopVm(vm.vmUuid, { mode: StopMode.STOP_MODE_ACPI_THEN_FORCE, timeoutMs: 1500 });
      expect(st).toMatchObject({ powerState: PowerState.POWER_STATE_SHUTOFF, reason: "destroyed" });
    });

    it("forces off at once with FORCE, and hard-resets", async () => {
      await hv.startVm(vm);
      const resetSt = await hv.power.reset(vm.vmUuid);
      expect(resetSt.powerState).toBe(PowerState.POWER_STATE_RUNNING);
      const st = await hv.stopVm(vm.vmUuid, { mode: StopMode.STOP_MODE_FORCE, timeoutMs: 0 });
      expect(st).toMatchObject({ powerState: PowerState.POWER_STATE_SHUTOFF, reason: "destroyed" });
      // Renamed while off: the domain follows the new name on the next start.
      const renamed = await hv.startVm({ ...vm, name: "deaf-renamed" });
      expect(renamed).toMatchObject({ name: domainNameFor({ vmUuid: vm.vmUuid, name: "deaf-renamed" }), powerState: PowerState.POWER_STATE_RUNNING });
      // Paused: ACPI cannot reach it; ACPI_THEN_FORCE powers off without waiting.
      await hv.power.suspend(vm.vmUuid);
      await expect(hv.stopVm(vm.vmUuid, { mode: StopMode.STOP_MODE_ACPI, timeoutMs: 60_000 })).rejects.toBeInstanceOf(ConflictError);
      expect(await hv.stopVm(vm.vmUuid, { mode: StopMode.STOP_MODE_ACPI_THEN_FORCE, timeoutMs: 60_000 })).toMatchObject({ powerState: PowerState.POWER_STATE_SHUTOFF, reason: "destroyed" });
    });

    it("destroys a hibernated VM (managed save image and all)", async () => {
      await hv.startVm(vm);
      expect(await hv.power.hibernate(vm.vmUuid)).toMatchObject({ powerState: PowerState.POWER_STATE_SHUTOFF, reason: "saved" });
      await hv.destroyVm(vm.vmUuid, { removeOwnedDisks: true });
      expect((await hv.listDomains()).map((d) => d.vmUuid)).not.toContain(vm.vmUuid);
      expect(existsSync(join(work, "instances", vm.vmUuid))).toBe(false);
    });
  });

  describe("a guest without any disk (its one SCSI device the empty ISO cdrom slot)", () => {
    let vm: VmSpec;

    afterAll(async () => {
      if (vm) await hv.destroyVm(vm.vmUuid, { removeOwnedDisks: true }).catch(() => undefined);
    });

    it("hot-attaches a SCSI disk on the virtio-scsi controller of its ISO slot, seen by the guest, and detaches it", async () => {
      vm = spec({ name: "diskless" });
      await hv.startVm(vm);
      const guestDisks = () => lastGuestReport(serial(vm.vmUuid), "GUEST-DISKS");
      expect([...(await waitFor("the guest's first GUEST-DISKS", guestDisks, 60_000)).entries()]).toEqual([["sr0", "0"]]);
      // The slot brought virtio-scsi (libvirt alone would add an LSI controller, which q35 has no slot for).
      const dev = await hv.disks.attachDisk(vm.vmUuid, { sourcePath: join(work, "instances", vm.vmUuid, "data.qcow2"), createSizeGib: 1, bus: "scsi" });
      expect(dev).toBe("sdb");
      const live = await hv.virsh.run(["dumpxml", vm.vmUuid]);
      expect(live).toMatch(/<controller type='scsi' index='0' model='virtio-scsi'>/);
      const seen = await waitFor("the guest to see sda", () => (guestDisks()?.has("sda") ? guestDisks() : undefined), 20_000);
      expect(seen.get("sda")).toBe(String(1024 ** 3));
      await hv.disks.detachDisk(vm.vmUuid, "sdb");
      await waitFor("the guest to lose sda", () => guestDisks()?.size === 1);
    });
  });

  describe("a guest with a NIC on a bridge", () => {
    // A bridge of the host's own (no address, no uplink): the sandboxed libvirtd shares the host's
    // network namespace. Named per run, deleted after.
    const bridge = `orbt${randomUUID().slice(0, 8)}`;
    const mac = "52:54:00:0b:17:01";
    let vm: VmSpec;

    beforeAll(async () => {
      await execa("ip", ["link", "add", bridge, "type", "bridge"]);
      await execa("ip", ["link", "set", bridge, "up"]);
    });

    afterAll(async () => {
      if (vm) await hv.destroyVm(vm.vmUuid, { removeOwnedDisks: true }).catch(() => undefined);
      await execa("ip", ["link", "del", bridge], { reject: false });
    });

    it("boots with the NIC in the guest (by its MAC) carrying the address of the seed's network-config", async () => {
      vm = spec({
        name: "nic",
        nics: [{ mac, bridge, model: "", ipAddress: "10.77.0.5", prefixLength: 24, gateway: "10.77.0.1" }],
        cloudInit: { userData: "#cloud-config\n", sshAuthorizedKeys: [] },
      });
      const t = Date.now();
      await hv.startVm(vm);
      const nets = await waitFor("GUEST-NETS", () => lastGuestReport(serial(vm.vmUuid), "GUEST-NETS"), 60_000);
      const seenMs = Date.now() - t;
      // The driver's own network-config (YAML) applied by the guest (build-test-guest.sh).
      expect([...nets.entries()]).toEqual([["eth0", `${mac}/10.77.0.5/24`]]);
      const networkConfig = await waitFor("the seed's network-config", () =>
        printedBetween(serial(vm.vmUuid), "SEED-NETWORK-CONFIG-BEGIN", "SEED-NETWORK-CONFIG-END"));
      expect(networkConfig).toMatch(/^version: 2$/m);
      expect(networkConfig).toContain(`macaddress: ${mac}`);
      expect(networkConfig).toMatch(/set-name: eth0/);
      expect(networkConfig).toContain("- 10.77.0.5/24");
      // Host side: the domain's tap device is on the bridge.
      const [s] = await hv.stats.domainStats(vm.vmUuid);
      expect(s!.nets).toHaveLength(1);
      const master = (await execa("ip", ["-o", "link", "show", s!.nets[0]!.name])).stdout;
      expect(master).toContain(`master ${bridge}`);
      console.info(`NIC guest: start to GUEST-NETS ${seenMs} ms`);
    });
  });

  it("has libvirt's QEMU driver accept every kind of generated domain (define only)", async () => {
    const variants: [string, DeepPartial<VmSpec>, Omit<DomainXmlOptions, "domainType">][] = [
      ["uefi", { directBoot: {} }, {}],
      ["secure-boot", { directBoot: {} }, { firmware: { loader: "/usr/share/OVMF/OVMF_CODE_4M.ms.fd", nvramTemplate: "/usr/share/OVMF/OVMF_VARS_4M.ms.fd", secureBoot: true } }],
      ["gpus-nics-pinning", {
        vcpus: 2, maxVcpus: 4, topology: { sockets: 1, cores: 2, threads: 2 }, pinnedCpus: [0, 1], numaNode: 0,
        gpus: [{ pciAddress: "0000:81:00.0", mode: "passthrough" }, { pciAddress: "0000:c1:00.0", mode: "vgpu", mdevUuid: randomUUID() }],
        nics: [{ mac: "52:54:00:aa:bb:01", bridge: "br0", model: "" }, { mac: "", bridge: "br1", model: "e1000e" }],
      }, { pciHole64Gib: 256 }],
      ["pc-ide", { disks: [{ id: "iso", device: "cdrom", sourcePath: "/isos/x.iso" }] }, { machine: "pc", cdromBus: "ide" }],
      ["disks", { disks: [{ id: "a", device: "disk", sourcePath: "/i/a.qcow2", bus: "virtio" }, { id: "b", device: "disk", sourcePath: "/i/b.raw", format: "raw", bus: "scsi" }] }, {}],
    ];
    for (const [label, over, xmlOpts] of variants) {
      const s = spec({ name: label, ...over });
      const file = join(work, `variant-${label}.xml`);
      writeFileSync(file, buildDomainXml(s, { domainType: "qemu", ...xmlOpts }, { serialLog: join(work, "v.log"), nvram: join(work, `${label}.fd`), seedIso: join(work, "seed.iso") }));
      const defined = await hv.virsh.run(["define", file]).then(() => "defined", (e: unknown) => String(e));
      expect({ label, defined }).toEqual({ label, defined: "defined" });
      expect((await hv.listDomains()).find((d) => d.vmUuid === s.vmUuid)).toMatchObject({ managed: true, name: domainNameFor(s) });
      await hv.virsh.run(["undefine", s.vmUuid, "--nvram"]);
    }
  });

  it("lists unmanaged domains as such and refuses to destroy them", async () => {
    const uuid = randomUUID();
    const file = join(work, "unmanaged.xml");
    writeFileSync(
      file,
      `<domain type='qemu'><name>not-orbit</name><uuid>${uuid}</uuid><memory unit='MiB'>64</memory><os><type arch='x86_64' machine='q35'>hvm</type></os></domain>`,
    );
    await execa("virsh", ["-c", daemon!.uri, "define", file]);
    try {
      const d = (await hv.listDomains()).find((x) => x.vmUuid === uuid);
      expect(d).toMatchObject({ name: "not-orbit", managed: false, powerState: PowerState.POWER_STATE_SHUTOFF });
      await expect(hv.destroyVm(uuid, { removeOwnedDisks: true })).rejects.toBeInstanceOf(ConflictError);
    } finally {
      await execa("virsh", ["-c", daemon!.uri, "undefine", uuid]);
    }
  });
});
