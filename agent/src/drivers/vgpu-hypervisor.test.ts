import { randomUUID } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { PowerState, StopMode, VmSpec } from "#shared/protocol.js";
import { CommandExecutor } from "../commands/command-executor.js";
import { capabilityNames } from "./hypervisor.js";
import { FakeSysfs } from "../gpu/fake-sysfs.js";
import { MdevManager } from "../gpu/mdev-manager.js";
import { SimulatorHypervisor } from "./simulator/simulator-hypervisor.js";
import { VgpuHypervisor } from "./vgpu-hypervisor.js";

const GPU = "0000:41:00.4";

// The kernel makes the device appear when a UUID is written to `create`; the fake tree does it here.
class KernelLikeMdevs extends MdevManager {
  constructor(private readonly fs: FakeSysfs) { super({ sysfsRoot: fs.root }); }
  override async create(pci: string, type: string, uuid?: string) {
    const d = await super.create(pci, type, uuid);
    await mkdir(join(this.fs.root, "bus/mdev/devices", d.uuid), { recursive: true });
    this.created.push(d.uuid);
    return d;
  }
  readonly created: string[] = [];
}

let fs: FakeSysfs;
let mdevs: KernelLikeMdevs;
let sim: SimulatorHypervisor;
let hv: VgpuHypervisor;

beforeEach(async () => {
  fs = await FakeSysfs.create();
  await fs.addMdevParent(GPU, [{ typeId: "nvidia-692", name: "GRID A100D-4C", availableInstances: 2 }]);
  mdevs = new KernelLikeMdevs(fs);
  sim = new SimulatorHypervisor({ hostUuid: randomUUID(), hostname: "h", cpus: 8, memoryMib: 8192 });
  hv = new VgpuHypervisor(sim, mdevs);
});
afterEach(async () => { await fs.dispose(); });

function spec(mdevUuid: string, over: Partial<VmSpec> = {}): VmSpec {
  return VmSpec.fromPartial({
    vmUuid: randomUUID(), name: "v", vcpus: 1, memoryMib: 512,
    gpus: [{ pciAddress: GPU, mode: "vgpu", vgpuType: "nvidia-692", mdevUuid }], ...over,
  });
}

describe("VgpuHypervisor", () => {
  it("creates the mdev before start and removes it when the VM stops", async () => {
    const m = randomUUID();
    const s = spec(m);
    await hv.startVm(s);
    expect(mdevs.created).toEqual([m]);
    expect(existsSync(join(fs.root, "bus/mdev/devices", m))).toBe(true);
    await hv.stopVm(s.vmUuid, { mode: StopMode.STOP_MODE_FORCE, timeoutMs: 0 });
    // MdevManager.remove wrote "1" to the device's remove file (the kernel would then delete it).
    expect(existsSync(join(fs.root, "bus/mdev/devices", m, "remove"))).toBe(true);
  });

  it("removes the mdev it created when the domain fails to start", async () => {
    const m = randomUUID();
    const failing = new VgpuHypervisor(
      new SimulatorHypervisor({ hostUuid: randomUUID(), hostname: "h", cpus: 8, memoryMib: 8192, failStart: () => "boom" }), mdevs);
    await expect(failing.startVm(spec(m))).rejects.toThrow("boom");
    expect(existsSync(join(fs.root, "bus/mdev/devices", m, "remove"))).toBe(true);
  });

  it("refuses a vGPU without a type or mdev uuid before touching the host", async () => {
    const s = spec("", {});
    await expect(hv.startVm(s)).rejects.toThrow(/mdev uuid/);
    expect(sim.calls.start).toBe(0);
  });

  it("removes the mdevs of a domain it did not start itself (agent restarted) when destroying it", async () => {
    const m = randomUUID();
    const s = spec(m);
    await hv.startVm(s);
    // A new agent process: nothing in memory, the driver still knows the domain's devices.
    const restarted = new VgpuHypervisor(Object.assign(Object.create(sim) as SimulatorHypervisor, {
      attachedMdevs: async (u: string) => (u === s.vmUuid ? [m] : []),
    }), mdevs);
    await restarted.destroyVm(s.vmUuid, { removeOwnedDisks: true });
    expect(existsSync(join(fs.root, "bus/mdev/devices", m, "remove"))).toBe(true);
  });

  it("passes VMs without vGPUs straight through", async () => {
    const s = VmSpec.fromPartial({ vmUuid: randomUUID(), name: "plain", vcpus: 1, memoryMib: 256 });
    await hv.startVm(s);
    await hv.destroyVm(s.vmUuid, { removeOwnedDisks: true });
    expect(mdevs.created).toEqual([]);
    expect(sim.has(s.vmUuid)).toBe(false);
  });

  it("passes the inner driver's capabilities through, and no more than it has", async () => {
    expect(capabilityNames(hv)).toEqual(["power", "resize", "disks", "stats", "console", "firewall", "snapshots"]);
    const limited = new VgpuHypervisor(new SimulatorHypervisor({ hostUuid: randomUUID(), hostname: "h", cpus: 8, memoryMib: 8192, capabilities: ["disks"] }), mdevs);
    expect(capabilityNames(limited)).toEqual(["disks"]);
    const ex = new CommandExecutor(limited);
    const r = await ex.execute({ commandId: randomUUID(), deadlineMs: 0, vmUuid: randomUUID(), body: { $case: "hibernateVm", value: {} } });
    expect(r.error).toMatchObject({ code: "unsupported" });
  });

  it("keeps a hibernated VM's mdev (its saved state uses it) and releases it when the VM is then stopped for good", async () => {
    const m = randomUUID();
    const s = spec(m);
    await hv.startVm(s);
    const ex = new CommandExecutor(hv);
    const run = (body: Parameters<CommandExecutor["execute"]>[0]["body"]) => ex.execute({ commandId: randomUUID(), deadlineMs: 0, vmUuid: s.vmUuid, body });
    expect((await run({ $case: "hibernateVm", value: {} })).domain).toMatchObject({ powerState: PowerState.POWER_STATE_SHUTOFF, reason: "saved" });
    expect(existsSync(join(fs.root, "bus/mdev/devices", m, "remove"))).toBe(false);
    expect((await run({ $case: "restoreVm", value: {} })).domain).toMatchObject({ powerState: PowerState.POWER_STATE_RUNNING, reason: "restored" });
    expect((await run({ $case: "suspendVm", value: {} })).domain?.powerState).toBe(PowerState.POWER_STATE_PAUSED);
    expect(existsSync(join(fs.root, "bus/mdev/devices", m, "remove"))).toBe(false);
    await run({ $case: "stopVm", value: { mode: StopMode.STOP_MODE_FORCE, timeoutMs: 0 } });
    expect(existsSync(join(fs.root, "bus/mdev/devices", m, "remove"))).toBe(true);
  });
});
