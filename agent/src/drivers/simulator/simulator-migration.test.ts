// Live migration between two simulators sharing a SimulatedMigrationNetwork: the rules the libvirt
// driver enforces (test/libvirt/libvirt-migration.test.ts proves them on two real daemons).
import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import { HypervisorError, NotFoundError } from "#shared/errors.js";
import { NicSpec, PowerState, StopMode, VmSpec } from "#shared/protocol.js";
import {
  capabilityNames, type DomainLifecycleEvent, type MigrateVmOptions, MigrationCancelledError, type MigrationProgress, MigrationRefusedError, MigrationTimeoutError,
} from "../hypervisor.js";
import { SimulatedMigrationNetwork } from "./simulated-migration-network.js";
import { SimulatorHypervisor } from "./simulator-hypervisor.js";

function pair(memoryB = 4096): { a: SimulatorHypervisor; b: SimulatorHypervisor } {
  const network = new SimulatedMigrationNetwork();
  const host = (name: string, memoryMib: number) => new SimulatorHypervisor({
    hostUuid: randomUUID(), hostname: name, cpus: 8, memoryMib, startDelayMs: 0, migration: { network, uri: `simulator://${name}` },
  });
  return { a: host("a", 4096), b: host("b", memoryB) };
}

const spec = (over: Partial<VmSpec> = {}): VmSpec => VmSpec.fromPartial({
  vmUuid: randomUUID(), name: "vm", vcpus: 1, maxVcpus: 1, memoryMib: 1024, maxMemoryMib: 1024,
  disks: [{ id: "root", device: "disk", format: "qcow2", sizeGib: 10, bus: "virtio", owned: true }], ...over,
});
const toB = (over: Partial<MigrateVmOptions> = {}): MigrateVmOptions => ({ destinationUri: "simulator://b", live: true, timeoutMs: 10_000, ...over });
const refusal = async (p: Promise<unknown>): Promise<string | undefined> => {
  const e = await p.catch((x: unknown) => x);
  expect(e).toBeInstanceOf(MigrationRefusedError);
  return (e as MigrationRefusedError).reason;
};

describe("SimulatorHypervisor migration", () => {
  it("is a capability only for a simulator on a migration network", () => {
    expect(capabilityNames(pair().a)).toContain("migration");
    expect(new SimulatorHypervisor({ hostUuid: randomUUID(), hostname: "x", cpus: 1, memoryMib: 1024 }).migration).toBeUndefined();
  });

  it("moves a running VM: progress, running on B with its disks, gone from A, events on both", async () => {
    const { a, b } = pair();
    const vm = spec();
    await a.startVm(vm);
    const disk = a.ownedDisks.get(`${vm.vmUuid}/root`);
    const events: (DomainLifecycleEvent & { host: string })[] = [];
    a.onDomainEvent((e) => events.push({ ...e, host: "a" }));
    b.onDomainEvent((e) => events.push({ ...e, host: "b" }));
    const seen: MigrationProgress[] = [];
    const r = await a.migrateVm(vm.vmUuid, toB({ onProgress: (p) => seen.push(p) }));
    expect(r.progressSamples).toBe(seen.length);
    expect(seen.length).toBeGreaterThan(0);
    expect(seen[0]).toMatchObject({ dataTotalBytes: 1024 * 2 ** 20, dataProcessedBytes: 0 });
    expect(r.dataBytes).toBe(1024 * 2 ** 20);
    expect(a.has(vm.vmUuid)).toBe(false);
    expect((await b.listDomains()).find((d) => d.vmUuid === vm.vmUuid)).toMatchObject({ powerState: PowerState.POWER_STATE_RUNNING, reason: "migrated", managed: true });
    expect(b.ownedDisks.get(`${vm.vmUuid}/root`)).toEqual(disk);
    expect(a.ownedDisks.has(`${vm.vmUuid}/root`)).toBe(false);
    expect(events).toEqual([
      { host: "b", vmUuid: vm.vmUuid, event: "started", detail: "migrated" },
      { host: "a", vmUuid: vm.vmUuid, event: "stopped", detail: "migrated" },
      { host: "a", vmUuid: vm.vmUuid, event: "undefined", detail: "removed" },
    ]);
    // It is B's now: B stops it, A knows nothing of it.
    expect((await b.stopVm(vm.vmUuid, { mode: StopMode.STOP_MODE_FORCE, timeoutMs: 1 })).powerState).toBe(PowerState.POWER_STATE_SHUTOFF);
    await expect(a.migrateVm(vm.vmUuid, toB())).rejects.toBeInstanceOf(NotFoundError);
  });

  it("refuses what libvirt and CloudStack refuse: unmanaged, not running, snapshots, passthrough GPU, vGPU, the same host", async () => {
    const { a } = pair();
    const unmanaged = randomUUID();
    a.addUnmanaged(unmanaged, "hand-made");
    expect(await refusal(a.migrateVm(unmanaged, toB()))).toBe("unmanaged");
    const stopped = spec();
    await a.startVm(stopped);
    await a.stopVm(stopped.vmUuid, { mode: StopMode.STOP_MODE_FORCE, timeoutMs: 1 });
    expect(await refusal(a.migrateVm(stopped.vmUuid, toB()))).toBe("not_running");
    const snap = spec();
    await a.startVm(snap);
    await a.createSnapshot(snap.vmUuid, { name: "s", memory: true, quiesce: false, timeoutMs: 1000 });
    expect(await refusal(a.migrateVm(snap.vmUuid, toB()))).toBe("has_snapshots");
    await a.deleteSnapshot(snap.vmUuid, "s");
    expect(await refusal(a.migrateVm(snap.vmUuid, toB({ destinationUri: "simulator://a" })))).toBe("same_host");
    const gpu = spec({ gpus: [{ pciAddress: "0000:3b:00.0", mode: "passthrough", vgpuType: "", mdevUuid: "", shareMilli: 0 }] });
    await a.startVm(gpu);
    expect(await refusal(a.migrateVm(gpu.vmUuid, toB()))).toBe("gpu_passthrough");
    const vgpu = spec({ gpus: [{ pciAddress: "0000:3b:00.0", mode: "vgpu", vgpuType: "nvidia-1", mdevUuid: randomUUID(), shareMilli: 0 }] });
    await a.startVm(vgpu);
    expect(await refusal(a.migrateVm(vgpu.vmUuid, toB()))).toBe("vgpu");
  });

  it("a destination that does not answer or lacks the memory fails it; the VM stays running on A", async () => {
    const { a, b } = pair(512);
    const vm = spec();
    await a.startVm(vm);
    const unreachable = await a.migrateVm(vm.vmUuid, toB({ destinationUri: "simulator://nowhere" })).catch((e: unknown) => e);
    expect(unreachable).toBeInstanceOf(HypervisorError);
    const full = await a.migrateVm(vm.vmUuid, toB()).catch((e: unknown) => e);
    expect(full).toBeInstanceOf(HypervisorError);
    expect((full as HypervisorError).message).toMatch(/1024 MiB needed on b, 512 MiB free/);
    expect((await a.listDomains())[0]?.powerState).toBe(PowerState.POWER_STATE_RUNNING);
    expect(b.has(vm.vmUuid)).toBe(false);
  });

  it("needs the VM's bridges on the destination first (prepareIncomingMigration)", async () => {
    const { a, b } = pair();
    const vm = spec({ nics: [NicSpec.fromPartial({ mac: "52:54:00:00:00:01", bridge: "orb-7", model: "virtio" })] });
    await a.startVm(vm);
    const err = await a.migrateVm(vm.vmUuid, toB()).catch((e: unknown) => e);
    expect((err as HypervisorError).message).toMatch(/b has no bridge orb-7/);
    expect(a.has(vm.vmUuid)).toBe(true);
    await b.prepareIncomingMigration(vm);
    await a.migrateVm(vm.vmUuid, toB());
    expect(b.has(vm.vmUuid)).toBe(true);
    expect(b.bridgeNames()).toEqual(["orb-7"]);
  });

  it("a cancel mid-way or the timeout aborts it; the VM stays running on A", async () => {
    const { a, b } = pair();
    a.migrationDurationMs = 2000;
    const vm = spec();
    await a.startVm(vm);
    let cancelled: Promise<boolean> | undefined;
    const err = await a.migrateVm(vm.vmUuid, toB({ onProgress: () => { cancelled ??= a.cancelMigration(vm.vmUuid); } })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MigrationCancelledError);
    expect(await cancelled).toBe(true);
    expect(await a.cancelMigration(vm.vmUuid)).toBe(false);
    const late = await a.migrateVm(vm.vmUuid, toB({ timeoutMs: 50 })).catch((e: unknown) => e);
    expect(late).toBeInstanceOf(MigrationTimeoutError);
    expect((await a.listDomains())[0]?.powerState).toBe(PowerState.POWER_STATE_RUNNING);
    expect(b.has(vm.vmUuid)).toBe(false);
  });
});
