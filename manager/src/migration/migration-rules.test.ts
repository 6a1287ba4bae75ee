import { describe, expect, it } from "vitest";
import {
  chooseMode, destinationRefusals, migrationFlags, stackVersions, storageRefusal, versionAtLeast, vgpuLiveGaps,
  type MigratingVm, type MigrationHostFacts, type RequestedMode,
} from "./migration-rules.js";

const vm = (over: Partial<MigratingVm> = {}): MigratingVm => ({ id: 7, state: "Running", gpuModes: [], storage: "shared", snapshots: 0, ...over });
const host = (over: Partial<MigrationHostFacts> = {}): MigrationHostFacts => ({
  id: 2, name: "b", state: "Up", resourceState: "Enabled", hypervisor: "kvm", cpuArch: "x86_64", clusterId: 1,
  migrationUri: "qemu+tcp://b/system", hypervisorVersion: "QEMU 8.2.2, libvirt 10.0.0", gpuDriverVersions: ["550.54.14"], ...over,
});
const source = host({ id: 1, name: "a", migrationUri: "qemu+tcp://a/system" });

describe("chooseMode", () => {
  const cases: [string, Partial<MigratingVm>, RequestedMode, boolean, string][] = [
    ["running CPU VM, auto", {}, "auto", false, "live"],
    ["running CPU VM, live", {}, "live", false, "live"],
    ["running CPU VM, cold asked", {}, "cold", false, "cold"],
    ["vGPU VM, auto: live (the hosts' stack is checked per destination)", { gpuModes: ["vgpu"] }, "auto", false, "live"],
    ["passthrough, live", { gpuModes: ["passthrough"] }, "live", true, "gpu_passthrough_live"],
    ["passthrough, auto without allowCold", { gpuModes: ["passthrough"] }, "auto", false, "cold_not_allowed"],
    ["passthrough, auto with allowCold", { gpuModes: ["passthrough"] }, "auto", true, "cold"],
    ["passthrough, cold", { gpuModes: ["passthrough"] }, "cold", false, "cold"],
    ["GPU share, live", { gpuModes: ["share"] }, "live", false, "gpu_passthrough_live"],
    ["stopped, auto", { state: "Stopped" }, "auto", false, "cold"],
    ["stopped, live", { state: "Stopped" }, "live", false, "vm_not_running"],
    ["migrating", { state: "Migrating" }, "auto", false, "already_migrating"],
    ["starting", { state: "Starting" }, "auto", false, "vm_state"],
    ["with snapshots", { snapshots: 2 }, "auto", false, "has_snapshots"],
  ];
  it.each(cases)("%s", (_name, over, requested, allowCold, want) => {
    const d = chooseMode(vm(over), requested, allowCold);
    expect(d.ok ? d.mode : d.refusal.code).toBe(want);
  });
});

describe("destinationRefusals", () => {
  const cases: [string, Partial<MigratingVm>, "live" | "cold", Partial<MigrationHostFacts>, boolean, string[]][] = [
    ["a suitable host", {}, "live", {}, false, []],
    ["the source itself", {}, "live", { id: 1 }, false, ["same_host"]],
    ["no migration URI", {}, "live", { migrationUri: "" }, false, ["no_migration_uri"]],
    ["no migration URI is fine cold", {}, "cold", { migrationUri: "" }, false, []],
    ["disconnected", {}, "live", { state: "Disconnected" }, false, ["host_not_up"]],
    ["in maintenance", {}, "live", { resourceState: "Maintenance" }, false, ["host_not_enabled"]],
    ["other hypervisor and arch", {}, "live", { hypervisor: "qemu", cpuArch: "aarch64" }, false, ["hypervisor_mismatch", "cpu_arch_mismatch"]],
    ["shared storage, other cluster", {}, "live", { clusterId: 2 }, false, ["different_cluster"]],
    ["local storage with motion, other cluster", { storage: "local" }, "live", { clusterId: 2 }, true, []],
    ["cold, local disks", { storage: "local" }, "cold", {}, false, ["local_storage_cold"]],
    ["cold, shared, other cluster", {}, "cold", { clusterId: 2 }, false, ["different_cluster"]],
    ["vGPU live on a supported stack", { gpuModes: ["vgpu"] }, "live", {}, false, []],
    ["vGPU live, old QEMU on the destination", { gpuModes: ["vgpu"] }, "live", { hypervisorVersion: "QEMU 6.2.0, libvirt 8.0.0" }, false, ["vgpu_live_unsupported"]],
    ["vGPU live, another driver", { gpuModes: ["vgpu"] }, "live", { gpuDriverVersions: ["550.90.07"] }, false, ["vgpu_driver_mismatch"]],
    ["vGPU live, old driver", { gpuModes: ["vgpu"] }, "live", { gpuDriverVersions: ["535.104.06"] }, false, ["vgpu_live_unsupported", "vgpu_driver_mismatch"]],
    ["vGPU on the simulator (no versions)", { gpuModes: ["vgpu"] }, "live", { hypervisorVersion: "simulator", gpuDriverVersions: [] }, false, ["vgpu_live_unsupported"]],
  ];
  it.each(cases)("%s", (_name, v, mode, dest, _motion, want) => {
    expect(destinationRefusals(vm(v), mode, source, host(dest)).map((r) => r.code)).toEqual(want);
  });

  it("names what the vGPU stack lacks", () => {
    const [r] = destinationRefusals(vm({ gpuModes: ["vgpu"] }), "live", source, host({ hypervisorVersion: "QEMU 8.0.0" }));
    expect(r!.message).toMatch(/QEMU 8\.0\.0 \(needs 8\.2 or later\).*libvirt unknown/);
  });
});

describe("storage", () => {
  const cases: [string, Partial<MigratingVm>, "live" | "cold", boolean, string | undefined][] = [
    ["shared, live", {}, "live", false, undefined],
    ["local, live without motion", { storage: "local" }, "live", false, "local_storage"],
    ["local, live with motion", { storage: "local" }, "live", true, undefined],
    ["motion with cold", { storage: "local" }, "cold", true, "storage_motion_cold"],
    ["motion on shared storage", {}, "live", true, "storage_motion_shared"],
  ];
  it.each(cases)("%s", (_name, v, mode, motion, want) => {
    expect(storageRefusal(vm(v), mode, motion)?.code).toBe(want);
  });

  it("copies storage only for local disks with motion, and never asks for post-copy", () => {
    expect(migrationFlags(vm({ storage: "local" }), true)).toMatchObject({ copyStorage: "all", postCopy: false });
    expect(migrationFlags(vm(), false)).toMatchObject({ copyStorage: "none", postCopy: false });
    expect(migrationFlags(vm({ gpuModes: ["vgpu"] }), false).postCopyWhyNot).toMatch(/VFIO/);
  });
});

describe("versions", () => {
  it("reads QEMU and libvirt from the hypervisor version and compares", () => {
    expect(stackVersions("QEMU 8.2.2, libvirt 10.0.0")).toEqual({ qemu: [8, 2, 2], libvirt: [10, 0, 0] });
    expect(stackVersions("simulator")).toEqual({});
    expect(versionAtLeast([8, 2, 2], [8, 2])).toBe(true);
    expect(versionAtLeast([8, 1, 9], [8, 2])).toBe(false);
    expect(versionAtLeast([10], [8, 2])).toBe(true);
    expect(vgpuLiveGaps(host())).toEqual([]);
  });
});
