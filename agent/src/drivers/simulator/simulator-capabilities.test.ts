// The simulator's capabilities keep the rules a libvirt host enforces, so the manager meets the
// refusals it would meet on a real host.
import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { ConflictError, HypervisorError, InvalidArgumentError, NotFoundError } from "#shared/errors.js";
import { PowerState, StopMode, VmSpec } from "#shared/protocol.js";
import { capabilityNames, requireCapability, CapabilityUnsupportedError } from "../hypervisor.js";
import { SimulatorHypervisor, type SimulatorOptions } from "./simulator-hypervisor.js";

const HOST = "5e1a0000-0000-4000-8000-0000000000bb";
const dirs: string[] = [];
afterEach(() => { for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true }); });

function sim(o: Partial<SimulatorOptions> = {}): SimulatorHypervisor {
  return new SimulatorHypervisor({ hostUuid: HOST, hostname: "sim", cpus: 8, memoryMib: 4096, startDelayMs: 0, ...o });
}

function spec(over: Partial<VmSpec> = {}): VmSpec {
  return VmSpec.fromPartial({
    vmUuid: randomUUID(), name: "vm", vcpus: 1, maxVcpus: 4, memoryMib: 1024, maxMemoryMib: 2048,
    disks: [{ id: "root", device: "disk", sourcePath: "/images/root.qcow2", format: "qcow2", sizeGib: 10, bus: "virtio", owned: true }],
    ...over,
  });
}

const power = (s: SimulatorHypervisor) => requireCapability(s, "power", "test");
const resize = (s: SimulatorHypervisor) => requireCapability(s, "resize", "test");
const disks = (s: SimulatorHypervisor) => requireCapability(s, "disks", "test");
const stats = (s: SimulatorHypervisor) => requireCapability(s, "stats", "test");

describe("SimulatorHypervisor capabilities", () => {
  it("declares all four by default, and only the configured ones when told", () => {
    expect(capabilityNames(sim())).toEqual(["power", "resize", "disks", "stats", "console", "firewall", "snapshots"]);
    const limited = sim({ capabilities: ["stats"] });
    expect(capabilityNames(limited)).toEqual(["stats"]);
    expect(limited.power).toBeUndefined();
    const err = (() => { try { requireCapability(limited, "power", "suspend"); } catch (e) { return e; } })();
    expect(err).toBeInstanceOf(CapabilityUnsupportedError);
    expect(err).toMatchObject({ code: "unsupported", retryable: false, capability: "power" });
    expect((err as Error).message).toMatch(/suspend needs the "power" capability.*simulator driver/);
  });

  it("suspends only a running domain, resumes only a paused one, and a paused domain keeps its memory", async () => {
    const s = sim();
    const vm = spec();
    await expect(power(s).suspend(vm.vmUuid)).rejects.toBeInstanceOf(HypervisorError); // no such domain
    await s.startVm(vm);
    const events: string[] = [];
    s.onDomainEvent((e) => events.push(`${e.event}/${e.detail}`));
    expect(await power(s).suspend(vm.vmUuid)).toMatchObject({ powerState: PowerState.POWER_STATE_PAUSED, reason: "user" });
    expect(await s.freeMemoryMib()).toBe(4096 - 1024);
    // Idempotent on the state asked for.
    expect((await power(s).suspend(vm.vmUuid)).powerState).toBe(PowerState.POWER_STATE_PAUSED);
    await expect(power(s).reboot(vm.vmUuid)).rejects.toBeInstanceOf(ConflictError);
    expect(await power(s).resume(vm.vmUuid)).toMatchObject({ powerState: PowerState.POWER_STATE_RUNNING, reason: "unpaused" });
    expect(events).toEqual(["suspended/paused", "resumed/unpaused"]);
    await s.stopVm(vm.vmUuid, { mode: StopMode.STOP_MODE_FORCE, timeoutMs: 0 });
    const refused = await power(s).suspend(vm.vmUuid).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(ConflictError);
    expect((refused as Error).message).toMatch(/cannot suspend .* it is shutoff .* needs running or paused/);
    await expect(power(s).resume(vm.vmUuid)).rejects.toBeInstanceOf(ConflictError);
  });

  it("reboots and resets a running domain only", async () => {
    const s = sim();
    const vm = spec();
    await s.startVm(vm);
    expect((await power(s).reboot(vm.vmUuid)).powerState).toBe(PowerState.POWER_STATE_RUNNING);
    expect((await power(s).reset(vm.vmUuid)).powerState).toBe(PowerState.POWER_STATE_RUNNING);
    await s.stopVm(vm.vmUuid, { mode: StopMode.STOP_MODE_ACPI, timeoutMs: 1 });
    await expect(power(s).reboot(vm.vmUuid)).rejects.toBeInstanceOf(ConflictError);
    await expect(power(s).reset(vm.vmUuid)).rejects.toBeInstanceOf(ConflictError);
  });

  it("hibernate leaves the domain shut off with a saved state that restore (or start) continues from, across a restart", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "orbit-sim-cap-"));
    dirs.push(dir);
    const s = sim({ stateDir: dir });
    const vm = spec();
    await s.startVm(vm);
    await expect(power(s).restore(vm.vmUuid)).rejects.toMatchObject({ code: "conflict", details: { state: "no_managed_save" } });
    expect(await power(s).hibernate(vm.vmUuid)).toMatchObject({ powerState: PowerState.POWER_STATE_SHUTOFF, reason: "saved" });
    expect(await s.freeMemoryMib()).toBe(4096);
    await expect(power(s).hibernate(vm.vmUuid)).rejects.toBeInstanceOf(ConflictError);
    // The saved state is on disk, like libvirt's managed save image.
    const again = sim({ stateDir: dir });
    expect(await power(again).restore(vm.vmUuid)).toMatchObject({ powerState: PowerState.POWER_STATE_RUNNING, reason: "restored" });
    await expect(power(again).restore(vm.vmUuid)).rejects.toBeInstanceOf(ConflictError);
    await power(again).hibernate(vm.vmUuid);
    // A start continues from the saved memory too (the manager's start after a hibernate).
    expect(await again.startVm(vm)).toMatchObject({ powerState: PowerState.POWER_STATE_RUNNING, reason: "restored" });
    expect(await again.startVm(vm)).toMatchObject({ reason: "restored" });
  });

  it("restores only when the memory is free", async () => {
    const s = sim({ memoryMib: 1536 });
    const a = spec();
    const b = spec();
    await s.startVm(a);
    await power(s).hibernate(a.vmUuid);
    await s.startVm(b);
    await expect(power(s).restore(a.vmUuid)).rejects.toThrow(/cannot restore vm: 1024 MiB needed, 512 MiB free/);
    expect((await s.listDomains()).find((d) => d.vmUuid === a.vmUuid)).toMatchObject({ powerState: PowerState.POWER_STATE_SHUTOFF, reason: "saved" });
  });

  it("resizes within the VM's maximums and the host's free memory; a refused resize changes nothing", async () => {
    const s = sim({ memoryMib: 3072 });
    const vm = spec();
    await s.startVm(vm);
    await resize(s).setVcpus(vm.vmUuid, 4);
    await resize(s).setMemory(vm.vmUuid, 2048);
    let [st] = await stats(s).domainStats(vm.vmUuid);
    expect(st).toMatchObject({ vcpuCurrent: 4, vcpuMaximum: 4, balloon: { currentKib: 2048 * 1024, maximumKib: 2048 * 1024 } });
    expect(await s.freeMemoryMib()).toBe(1024);
    await expect(resize(s).setVcpus(vm.vmUuid, 5)).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(resize(s).setVcpus(vm.vmUuid, 0)).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(resize(s).setMemory(vm.vmUuid, 2049)).rejects.toMatchObject({ code: "invalid_argument", field: "memoryMib" });
    [st] = await stats(s).domainStats(vm.vmUuid);
    expect(st).toMatchObject({ vcpuCurrent: 4, balloon: { currentKib: 2048 * 1024 } });

    // Growing a running VM needs free host memory; a stopped VM's definition may grow regardless.
    const other = spec({ maxMemoryMib: 2048 });
    await s.startVm(other);
    await expect(resize(s).setMemory(other.vmUuid, 2048)).rejects.toThrow(/0 MiB free/);
    await s.stopVm(other.vmUuid, { mode: StopMode.STOP_MODE_FORCE, timeoutMs: 0 });
    await resize(s).setMemory(other.vmUuid, 2048);
    expect((await s.listDomains()).find((d) => d.vmUuid === other.vmUuid)?.powerState).toBe(PowerState.POWER_STATE_SHUTOFF);
    const [grown] = await stats(s).domainStats(other.vmUuid);
    expect(grown!.balloon.currentKib).toBe(2048 * 1024);
    // A start defines the domain from the manager's spec again (as the libvirt driver does).
    expect(await s.startVm(other)).toMatchObject({ powerState: PowerState.POWER_STATE_RUNNING });
  });

  it("attaches disks at the next free target, refuses duplicates, detaches by target or path; a start redefines from the spec", async () => {
    const s = sim();
    const vm = spec();
    await s.startVm(vm);
    expect(await disks(s).attachDisk(vm.vmUuid, { sourcePath: "/data/a.qcow2", createSizeGib: 5 })).toBe("vdb");
    expect(await disks(s).attachDisk(vm.vmUuid, { sourcePath: "/data/b.raw", format: "raw", bus: "scsi" })).toBe("sda");
    await expect(disks(s).attachDisk(vm.vmUuid, { sourcePath: "/data/a.qcow2" })).rejects.toBeInstanceOf(ConflictError);
    await expect(disks(s).attachDisk(vm.vmUuid, { sourcePath: "/data/c.qcow2", targetDev: "vda" })).rejects.toMatchObject({ details: { state: "target_in_use" } });
    let [st] = await stats(s).domainStats(vm.vmUuid);
    expect(st!.blocks.map((b) => [b.name, b.path, b.capacityBytes / 1024 ** 3])).toEqual([
      ["vda", "/images/root.qcow2", 10], ["vdb", "/data/a.qcow2", 5], ["sda", "/data/b.raw", 0],
    ]);
    await disks(s).detachDisk(vm.vmUuid, "vdb");
    await disks(s).detachDisk(vm.vmUuid, "/data/b.raw");
    await expect(disks(s).detachDisk(vm.vmUuid, "vdz")).rejects.toBeInstanceOf(NotFoundError);
    await disks(s).attachDisk(vm.vmUuid, { sourcePath: "/data/a.qcow2" });
    await s.stopVm(vm.vmUuid, { mode: StopMode.STOP_MODE_FORCE, timeoutMs: 0 });
    expect((await stats(s).domainStats(vm.vmUuid))[0]!.blocks).toEqual([]);
    // Hibernate keeps the attached disk (the saved state uses it); a fresh start does not (as libvirt's define).
    await s.startVm(vm);
    await disks(s).attachDisk(vm.vmUuid, { sourcePath: "/data/a.qcow2" });
    await power(s).hibernate(vm.vmUuid);
    await s.startVm(vm);
    [st] = await stats(s).domainStats(vm.vmUuid);
    expect(st!.blocks.map((b) => b.name)).toEqual(["vda", "vdb"]);
    await s.stopVm(vm.vmUuid, { mode: StopMode.STOP_MODE_FORCE, timeoutMs: 0 });
    await s.startVm(vm);
    [st] = await stats(s).domainStats(vm.vmUuid);
    expect(st!.blocks.map((b) => b.name)).toEqual(["vda"]);
  });

  it("reports stats: CPU time only of an active domain, no devices while shut off, every domain without a uuid", async () => {
    const s = sim();
    const a = spec({ nics: [{ mac: "52:54:00:00:00:01", bridge: "br0", model: "virtio", ipAddress: "", prefixLength: 0, gateway: "", floatingIp: "" }] });
    const b = spec();
    await s.startVm(a);
    await s.startVm(b);
    await s.stopVm(b.vmUuid, { mode: StopMode.STOP_MODE_FORCE, timeoutMs: 0 });
    const all = await stats(s).domainStats();
    expect(all.map((x) => x.vmUuid).sort()).toEqual([a.vmUuid, b.vmUuid].sort());
    const sa = all.find((x) => x.vmUuid === a.vmUuid)!;
    const sb = all.find((x) => x.vmUuid === b.vmUuid)!;
    expect(sa.state?.powerState).toBe(PowerState.POWER_STATE_RUNNING);
    expect(sa.cpuTimeNs).toBeGreaterThanOrEqual(0);
    expect(sa.nets.map((n) => n.name)).toEqual(["vnet0"]);
    expect(sb).toMatchObject({ cpuTimeNs: undefined, blocks: [], nets: [], state: { powerState: PowerState.POWER_STATE_SHUTOFF } });
    await expect(stats(s).domainStats(randomUUID())).rejects.toBeInstanceOf(HypervisorError);
  });

  it("reports plausible counters: a quarter of each vCPU busy, I/O growing with CPU time, guest memory used", async () => {
    const s = sim();
    const a = spec({ vcpus: 2, nics: [{ mac: "52:54:00:00:00:01", bridge: "br0", model: "virtio", ipAddress: "", prefixLength: 0, gateway: "", floatingIp: "" }] });
    await s.startVm(a);
    const [first] = await stats(s).domainStats(a.vmUuid);
    await new Promise((r) => setTimeout(r, 200));
    const [second] = await stats(s).domainStats(a.vmUuid);
    const cpuShare = (second!.cpuTimeNs! - first!.cpuTimeNs!) / (200 * 1e6 * 2);
    expect(cpuShare).toBeGreaterThan(0.2);
    expect(cpuShare).toBeLessThan(0.4);
    expect(second!.blocks[0]!.rdBytes).toBeGreaterThan(first!.blocks[0]!.rdBytes);
    expect(second!.nets[0]!.rxBytes).toBeGreaterThan(first!.nets[0]!.rxBytes);
    expect(second!.balloon.availableKib! - second!.balloon.unusedKib!).toBeGreaterThan(0);
  });

  it("prints synthetic boot lines on the console once per boot, tails them within maxBytes, and refuses an unknown VM", async () => {
    const s = sim();
    const a = spec({ name: "web-1" });
    await s.startVm(a);
    const once = await requireCapability(s, "console", "test").consoleLog(a.vmUuid, 64 * 1024);
    expect(once.truncated).toBe(false);
    expect(once.text).toMatch(/Linux version/);
    expect(once.text).toMatch(/web-1 login: $/);
    await s.stopVm(a.vmUuid, { mode: StopMode.STOP_MODE_FORCE, timeoutMs: 0 });
    await s.startVm(a);
    const twice = await requireCapability(s, "console", "test").consoleLog(a.vmUuid, 64 * 1024);
    expect(twice.text.match(/Linux version/g)).toHaveLength(2);
    const tail = await requireCapability(s, "console", "test").consoleLog(a.vmUuid, 20);
    expect(tail).toEqual({ text: twice.text.slice(-20), truncated: true });
    await expect(requireCapability(s, "console", "test").consoleLog(randomUUID(), 100)).rejects.toBeInstanceOf(NotFoundError);
  });

  it("makes owned disks as a host does: an overlay at first start, a fresh one on replace, a full copy of a stopped VM's, never of a running one's", async () => {
    const s = sim();
    const vm = spec({ disks: [{ id: "root", device: "disk", sourcePath: "", format: "qcow2", sizeGib: 0, bus: "virtio", owned: true, backingPath: "/images/a.qcow2", copyFromVmUuid: "" }] });
    await s.startVm(vm);
    const first = s.ownedDiskOf(vm.vmUuid, "root")!;
    expect(first).toMatchObject({ origin: "overlay", from: "/images/a.qcow2" });
    const root = vm.disks[0]!;
    await expect(disks(s).prepareOwnedDisk(vm.vmUuid, root, { replace: true })).rejects.toThrow(/cannot be replaced while it runs/);
    const clone = randomUUID();
    await expect(disks(s).prepareOwnedDisk(clone, { ...root, copyFromVmUuid: vm.vmUuid }, { replace: false })).rejects.toBeInstanceOf(ConflictError);
    expect(s.ownedDiskOf(clone, "root")).toBeUndefined();
    await s.stopVm(vm.vmUuid, { mode: StopMode.STOP_MODE_FORCE, timeoutMs: 0 });
    // Without replace an existing disk stays (a retried command changes nothing).
    await disks(s).prepareOwnedDisk(vm.vmUuid, { ...root, backingPath: "/images/b.qcow2" }, { replace: false });
    expect(s.ownedDiskOf(vm.vmUuid, "root")).toEqual(first);
    await disks(s).prepareOwnedDisk(vm.vmUuid, { ...root, backingPath: "/images/b.qcow2" }, { replace: true });
    const fresh = s.ownedDiskOf(vm.vmUuid, "root")!;
    expect(fresh).toMatchObject({ origin: "overlay", from: "/images/b.qcow2" });
    expect(fresh.content).not.toBe(first.content);
    await disks(s).prepareOwnedDisk(clone, { ...root, copyFromVmUuid: vm.vmUuid }, { replace: false });
    expect(s.ownedDiskOf(clone, "root")).toEqual({ origin: "copy", from: `${vm.vmUuid}/root`, content: fresh.content });
    // The clone's first start boots the copy; a source with no such disk is not found.
    await s.startVm({ ...vm, vmUuid: clone, disks: [root] });
    expect(s.ownedDiskOf(clone, "root")).toMatchObject({ origin: "copy" });
    await expect(disks(s).prepareOwnedDisk(randomUUID(), { ...root, id: "data", copyFromVmUuid: vm.vmUuid }, { replace: false })).rejects.toBeInstanceOf(NotFoundError);
    await s.destroyVm(clone);
    expect(s.ownedDiskOf(clone, "root")).toBeUndefined();
  });

  it("firewall: keeps the last firewall applied per VM, before the VM exists too, until removed", async () => {
    const s = sim();
    const vm = spec();
    const fw = requireCapability(s, "firewall", "test");
    const rule = { direction: "ingress" as const, ethertype: "IPv4" as const, protocol: "tcp" as const, remoteIpPrefix: "0.0.0.0/0", portRangeMin: 22, portRangeMax: 22 };
    await fw.applyFirewall(vm.vmUuid.toUpperCase(), { rules: [rule] });
    expect(s.firewallOf(vm.vmUuid)).toEqual({ rules: [rule] });
    await s.startVm(vm);
    await fw.applyFirewall(vm.vmUuid, { rules: [], privateIp: "10.0.0.2", floatingIp: "203.0.113.2" });
    expect(s.firewallOf(vm.vmUuid)).toEqual({ rules: [], privateIp: "10.0.0.2", floatingIp: "203.0.113.2" });
    await fw.removeFirewall(vm.vmUuid);
    expect(s.firewallOf(vm.vmUuid)).toBeUndefined();
    await fw.removeFirewall(vm.vmUuid);
    expect(sim({ capabilities: ["stats"] }).firewall).toBeUndefined();
  });
});

describe("SimulatorHypervisor snapshots", () => {
  const snaps = (s: SimulatorHypervisor) => requireCapability(s, "snapshots", "test");
  const opts = { description: "", quiesce: false, timeoutMs: 10_000 };

  it("keeps libvirt's rules: memory only of a running domain, a revert restores the disks and (with memory) the running state", async () => {
    const s = sim();
    const vm = spec();
    await s.startVm(vm);
    const running = await snaps(s).createSnapshot(vm.vmUuid, { ...opts, name: "a", memory: true });
    expect(running).toMatchObject({ name: "a", parent: "", state: "running", memory: true });
    expect(running.sizeBytes).toBeGreaterThan(0);
    // A retried create answers the snapshot it made.
    expect(await snaps(s).createSnapshot(vm.vmUuid, { ...opts, name: "a", memory: true })).toEqual(running);
    await s.stopVm(vm.vmUuid, { mode: StopMode.STOP_MODE_FORCE, timeoutMs: 0 });
    await expect(snaps(s).createSnapshot(vm.vmUuid, { ...opts, name: "b", memory: true })).rejects.toBeInstanceOf(InvalidArgumentError);
    expect(await snaps(s).createSnapshot(vm.vmUuid, { ...opts, name: "b", memory: false })).toMatchObject({ parent: "a", state: "shutoff", memory: false });

    expect((await snaps(s).revertSnapshot(vm.vmUuid, "a")).powerState).toBe(PowerState.POWER_STATE_RUNNING);
    expect((await snaps(s).revertSnapshot(vm.vmUuid, "a", { shutOff: true })).powerState).toBe(PowerState.POWER_STATE_SHUTOFF);
    expect((await snaps(s).revertSnapshot(vm.vmUuid, "b")).powerState).toBe(PowerState.POWER_STATE_SHUTOFF);
    await expect(snaps(s).revertSnapshot(vm.vmUuid, "nope")).rejects.toBeInstanceOf(NotFoundError);

    await snaps(s).deleteSnapshot(vm.vmUuid, "a");
    await snaps(s).deleteSnapshot(vm.vmUuid, "a"); // gone already: done
    expect(await snaps(s).listSnapshots(vm.vmUuid)).toMatchObject([{ name: "b", parent: "" }]);
    await s.destroyVm(vm.vmUuid);
    await s.startVm(vm);
    expect(await snaps(s).listSnapshots(vm.vmUuid)).toEqual([]);
  });

  it("refuses quiesce without a guest agent, and past its timeout fails for good keeping nothing", async () => {
    const s = sim();
    const vm = spec();
    await s.startVm(vm);
    await expect(snaps(s).createSnapshot(vm.vmUuid, { ...opts, name: "q", memory: false, quiesce: true })).rejects.toThrow(/no guest agent channel/);
    s.snapshotDelayMs = 200;
    const err = await snaps(s).createSnapshot(vm.vmUuid, { ...opts, name: "slow", memory: false, timeoutMs: 50 }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "deadline_exceeded", retryable: false });
    expect(await snaps(s).listSnapshots(vm.vmUuid)).toEqual([]);
  });
});
