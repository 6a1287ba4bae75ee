import { randomUUID } from "node:crypto";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { HypervisorError } from "#shared/errors.js";
import { PowerState, StopMode, VmSpec } from "#shared/protocol.js";
import { SimulatorHypervisor, type SimulatorOptions } from "./simulator-hypervisor.js";
import { SIMULATOR_STATE_FILE } from "./simulator-state-file.js";

const HOST = "5e1a0000-0000-4000-8000-0000000000aa";
const dirs: string[] = [];
afterEach(() => { for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true }); });

function tempDir(): string {
  const d = mkdtempSync(path.join(tmpdir(), "orbit-sim-"));
  dirs.push(d);
  return d;
}

function sim(stateDir?: string, o: Partial<SimulatorOptions> = {}): SimulatorHypervisor {
  return new SimulatorHypervisor({ hostUuid: HOST, hostname: "sim", cpus: 8, memoryMib: 8192, startDelayMs: 0, stateDir, ...o });
}

function spec(name: string, memoryMib = 1024): VmSpec {
  return VmSpec.fromPartial({
    vmUuid: randomUUID(), name, vcpus: 2, memoryMib, imageName: "Debian 12", labels: { orbit: "yes" },
    disks: [{ id: "root", device: "disk", sourcePath: `/var/lib/orbit/${name}.qcow2`, format: "qcow2", sizeGib: 20, bus: "virtio", owned: true }],
    gpus: [{ pciAddress: "0000:18:00.0", mode: "passthrough" }],
  });
}

const byUuid = (a: { vmUuid: string }, b: { vmUuid: string }) => a.vmUuid.localeCompare(b.vmUuid);

describe("SimulatorHypervisor with a state dir", () => {
  it("a restart on the same state dir finds the same domains, definitions and power states; destroyed ones stay gone", async () => {
    const dir = tempDir();
    const before = sim(dir);
    const running = spec("running", 2048);
    const stopped = spec("stopped");
    const crashed = spec("crashed");
    const destroyed = spec("destroyed");
    for (const s of [running, stopped, crashed, destroyed]) await before.startVm(s);
    await before.stopVm(stopped.vmUuid, { mode: StopMode.STOP_MODE_FORCE, timeoutMs: 0 });
    before.crash(crashed.vmUuid);
    await before.destroyVm(destroyed.vmUuid);
    before.addUnmanaged("0a0a0a0a-0000-4000-8000-000000000001", "hand-made");
    await before.close();

    const after = sim(dir);
    const listed = (await after.listDomains()).sort(byUuid);
    expect(listed).toEqual((await before.listDomains()).sort(byUuid));
    expect(listed).toHaveLength(4);
    const state = Object.fromEntries(listed.map((d) => [d.name, [d.powerState, d.reason, d.managed]]));
    expect(state).toEqual({
      running: [PowerState.POWER_STATE_RUNNING, "booted", true],
      stopped: [PowerState.POWER_STATE_SHUTOFF, "destroyed", true],
      crashed: [PowerState.POWER_STATE_CRASHED, "crashed", true],
      "hand-made": [PowerState.POWER_STATE_RUNNING, "", false],
    });
    expect(after.has(destroyed.vmUuid)).toBe(false);
    // The running domains still hold their memory (the unmanaged one is defined with none).
    expect(await after.freeMemoryMib()).toBe(8192 - 2048);
    // Starting a domain that is running does not start it again; a stopped one starts with the saved definition.
    await after.startVm(running);
    expect(after.calls.start).toBe(1);
    await after.startVm(stopped);
    const third = sim(dir);
    expect((await third.listDomains()).find((d) => d.name === "stopped")?.powerState).toBe(PowerState.POWER_STATE_RUNNING);
  });

  it("keeps the whole definition (disks, GPUs, labels) across a restart", async () => {
    const dir = tempDir();
    const s = spec("full");
    await sim(dir).startVm(s);
    const file = JSON.parse(readFileSync(path.join(dir, SIMULATOR_STATE_FILE), "utf8")) as { domains: { spec: unknown }[] };
    expect(VmSpec.fromJSON(file.domains[0]!.spec)).toEqual(s);
    // Nothing half-written left beside it.
    expect(readdirSync(dir)).toEqual([SIMULATOR_STATE_FILE]);
  });

  it("writes the host UUID on first start, and refuses a state dir that belongs to another host", () => {
    const dir = tempDir();
    sim(dir);
    expect(JSON.parse(readFileSync(path.join(dir, SIMULATOR_STATE_FILE), "utf8"))).toMatchObject({ hostUuid: HOST, domains: [] });
    expect(() => sim(dir, { hostUuid: randomUUID() })).toThrow(/belongs to host 5e1a0000-0000-4000-8000-0000000000aa/);
  });

  it("refuses a damaged state file instead of starting the host empty", () => {
    const dir = tempDir();
    const file = path.join(dir, SIMULATOR_STATE_FILE);
    writeFileSync(file, "{ not json");
    expect(() => sim(dir)).toThrow(HypervisorError);
    expect(() => sim(dir)).toThrow(new RegExp(`${file}: invalid JSON`));
    writeFileSync(file, JSON.stringify({ version: 1, hostUuid: HOST, domains: [{ uuid: "x", spec: {}, state: "ON", reason: "", managed: true }] }));
    expect(() => sim(dir)).toThrow(/domains\.0\.state: unknown power state/);
  });

  it("a change that cannot be saved fails and changes nothing", async () => {
    const dir = tempDir();
    const hv = sim(dir);
    const kept = spec("kept");
    await hv.startVm(kept);
    // The state dir turns into a file: every save fails.
    rmSync(dir, { recursive: true });
    writeFileSync(dir, "");
    const events: string[] = [];
    hv.onDomainEvent((e) => events.push(e.event));
    const lost = spec("lost");
    await expect(hv.startVm(lost)).rejects.toThrow(/cannot save/);
    await expect(hv.stopVm(kept.vmUuid, { mode: StopMode.STOP_MODE_FORCE, timeoutMs: 0 })).rejects.toThrow(HypervisorError);
    await expect(hv.destroyVm(kept.vmUuid)).rejects.toThrow(HypervisorError);
    expect((await hv.listDomains()).map((d) => [d.name, d.powerState])).toEqual([["kept", PowerState.POWER_STATE_RUNNING]]);
    expect(events).toEqual([]);
    rmSync(dir);
  });

  it("an unusable state dir stops the start with a HypervisorError naming the file", () => {
    const blocker = path.join(tempDir(), "a-file");
    writeFileSync(blocker, "");
    const file = path.join(blocker, "state", SIMULATOR_STATE_FILE);
    expect(() => sim(path.join(blocker, "state"))).toThrow(HypervisorError);
    expect(() => sim(path.join(blocker, "state"))).toThrow(`simulator state ${file}: cannot read: ENOTDIR`);
  });

  it("without a state dir keeps domains in memory only: a new simulator starts empty", async () => {
    await sim().startVm(spec("ephemeral"));
    expect(await sim().listDomains()).toEqual([]);
  });
});

describe("SimulatorHypervisor domain names", () => {
  it("names a domain as the manager chose at its last start (domain_name), else by the VM's name", async () => {
    const hv = sim();
    const s = spec("web");
    await hv.startVm(s);
    const named = async () => (await hv.listDomains()).find((d) => d.vmUuid === s.vmUuid)?.name;
    expect(await named()).toBe("web");
    await hv.stopVm(s.vmUuid, { mode: StopMode.STOP_MODE_FORCE, timeoutMs: 0 });
    await hv.startVm({ ...s, domainName: "orbit-7-abcd0123" });
    expect(await named()).toBe("orbit-7-abcd0123");
    expect((await hv.domainStats(s.vmUuid))[0]?.name).toBe("orbit-7-abcd0123");
  });
});

describe("SimulatorHypervisor NICs", () => {
  it("records a started domain's NICs and the bridges they plugged into, and refuses what Linux would", async () => {
    const hv = sim();
    const nic = { mac: "52:54:00:01:02:03", bridge: "orb-5", model: "virtio", ipAddress: "10.128.0.2", prefixLength: 24, gateway: "10.128.0.1", floatingIp: "" };
    const s = VmSpec.fromPartial({ ...spec("nic"), nics: [nic] });
    await hv.startVm(s);
    expect(hv.specOf(s.vmUuid)?.nics).toEqual([nic]);
    expect(hv.bridgeNames()).toEqual(["orb-5"]);
    const bad = VmSpec.fromPartial({ ...spec("bad-nic"), nics: [{ ...nic, bridge: "orb-1234567890123" }] });
    await expect(hv.startVm(bad)).rejects.toMatchObject({ code: "invalid_argument", details: { field: "nics[0].bridge" } });
    expect(hv.has(bad.vmUuid)).toBe(false);
    await expect(hv.startVm(VmSpec.fromPartial({ ...spec("bad-mac"), nics: [{ ...nic, mac: "zz" }] }))).rejects.toThrow(/not a MAC address/);
  });
});

describe("SimulatorHypervisor cdroms", () => {
  it("records an ISO cdrom booting before a blank root disk, across a restart, and makes no disk of the cdrom", async () => {
    const dir = tempDir();
    const hv = sim(dir);
    const s = VmSpec.fromPartial({
      ...spec("installer"),
      gpus: [],
      disks: [
        { id: "iso", device: "cdrom", sourcePath: "image-7.iso", format: "raw", owned: false },
        { id: "root", device: "disk", sourcePath: "", format: "qcow2", sizeGib: 30, bus: "virtio", owned: true },
      ],
    });
    await hv.startVm(s);
    expect(hv.specOf(s.vmUuid)!.disks.map((d) => [d.id, d.device, d.sourcePath])).toEqual([["iso", "cdrom", "image-7.iso"], ["root", "disk", ""]]);
    expect(hv.ownedDiskOf(s.vmUuid, "root")).toMatchObject({ origin: "blank", from: "" });
    expect(hv.ownedDiskOf(s.vmUuid, "iso")).toBeUndefined();
    await hv.close();
    expect(sim(dir).specOf(s.vmUuid)!.disks[0]).toMatchObject({ id: "iso", device: "cdrom", sourcePath: "image-7.iso" });
  });
});
