import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { mkdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { FakeSysfs } from "./fake-sysfs.js";
import { VgpuSysfsReader } from "./vgpu-sysfs.reader.js";

describe("VgpuSysfsReader", () => {
  let fs: FakeSysfs;
  beforeEach(async () => { fs = await FakeSysfs.create(); });
  afterEach(async () => { await fs.dispose(); });

  it("finds nothing, and warns about nothing, on a host without mdev or vGPU VFs", async () => {
    await fs.addPciDevice("0000:01:00.0", { numaNode: 1 });
    const scan = await new VgpuSysfsReader({ sysfsRoot: fs.root }).scan();
    expect(scan).toEqual({ types: [], vfioVfs: [], warnings: [] });
  });

  it("reads mdev types of a GPU: name, available instances, description facts", async () => {
    await fs.addMdevParent("0000:84:00.0", [
      { typeId: "nvidia-35", name: "GRID M60-0B", availableInstances: 16, description: "num_heads=2, frl_config=45, framebuffer=512M, max_resolution=2560x1600, max_instance=16" },
      { typeId: "nvidia-18", name: "GRID M60-8Q", availableInstances: 0, description: "num_heads=4, frl_config=60, framebuffer=8192M, max_resolution=4096x2160, max_instance=1" },
    ]);
    const { types, warnings } = await new VgpuSysfsReader({ sysfsRoot: fs.root }).scan();
    expect(warnings).toEqual([]);
    expect(types.map((t) => [t.parentPci, t.gpuPci, t.typeId, t.name, t.availableInstances, t.maxInstances, t.framebufferMib, t.deviceApi, t.framework]))
      .toEqual([
        ["0000:84:00.0", "0000:84:00.0", "nvidia-18", "GRID M60-8Q", 0, 1, 8192, "vfio-pci", "mdev"],
        ["0000:84:00.0", "0000:84:00.0", "nvidia-35", "GRID M60-0B", 16, 16, 512, "vfio-pci", "mdev"],
      ]);
  });

  it("maps mdev types on SR-IOV virtual functions back to their GPU through physfn", async () => {
    await fs.addPciDevice("0000:41:00.0", { numaNode: 0 });
    for (const vf of ["0000:41:00.4", "0000:41:00.5"]) {
      await fs.addMdevParent(vf, [{ typeId: "nvidia-692", name: "GRID A100D-4C", availableInstances: 1 }], { physfn: "0000:41:00.0" });
    }
    const { types } = await new VgpuSysfsReader({ sysfsRoot: fs.root }).scan();
    expect(types.map((t) => [t.parentPci, t.gpuPci, t.typeId])).toEqual([
      ["0000:41:00.4", "0000:41:00.0", "nvidia-692"], ["0000:41:00.5", "0000:41:00.0", "nvidia-692"],
    ]);
  });

  it("reads creatable_vgpu_types of the vendor VFIO framework, one instance per VF", async () => {
    await fs.addPciDevice("0000:3d:00.0");
    await fs.addVfioVf("0000:3d:00.4", "0000:3d:00.0", [{ id: 1428, name: "NVIDIA H200X-141C" }, { id: 1414, name: "NVIDIA H200X-1-18C" }]);
    await fs.addVfioVf("0000:3d:00.5", "0000:3d:00.0", []);
    const { types, warnings } = await new VgpuSysfsReader({ sysfsRoot: fs.root }).scan();
    expect(warnings).toEqual([]);
    expect(types.map((t) => [t.parentPci, t.gpuPci, t.typeId, t.name, t.availableInstances, t.framework])).toEqual([
      ["0000:3d:00.4", "0000:3d:00.0", "nvidia-1428", "NVIDIA H200X-141C", 1, "vfio"],
      ["0000:3d:00.4", "0000:3d:00.0", "nvidia-1414", "NVIDIA H200X-1-18C", 1, "vfio"],
    ]);
  });

  it("does not count an assigned VF as free, even when its creatable_vgpu_types still lists types", async () => {
    const a100_4c = { id: 692, name: "GRID A100D-4C" };
    const a100_8c = { id: 693, name: "GRID A100D-8C" };
    await fs.addPciDevice("0000:41:00.0");
    await fs.addVfioVf("0000:41:00.4", "0000:41:00.0", [a100_4c, a100_8c], a100_4c.id);
    await fs.addVfioVf("0000:41:00.5", "0000:41:00.0", [a100_4c, a100_8c]);
    const { types, vfioVfs, warnings } = await new VgpuSysfsReader({ sysfsRoot: fs.root }).scan();
    expect(warnings).toEqual([]);
    expect(types.map((t) => [t.parentPci, t.typeId, t.name, t.availableInstances])).toEqual([
      ["0000:41:00.4", "nvidia-692", "GRID A100D-4C", 0],
      ["0000:41:00.5", "nvidia-692", "GRID A100D-4C", 1],
      ["0000:41:00.5", "nvidia-693", "GRID A100D-8C", 1],
    ]);
    expect(vfioVfs).toEqual([
      { vfPci: "0000:41:00.4", gpuPci: "0000:41:00.0", currentTypeId: "nvidia-692", gpuInstanceId: undefined },
      { vfPci: "0000:41:00.5", gpuPci: "0000:41:00.0", currentTypeId: undefined, gpuInstanceId: undefined },
    ]);
  });

  it("reads the GPU instance of a VF holding a MIG-backed vGPU", async () => {
    const h100_1_10c = { id: 929, name: "NVIDIA H100-1-10C" };
    await fs.addPciDevice("0000:2a:00.0");
    await fs.addVfioVf("0000:2a:00.4", "0000:2a:00.0", [], h100_1_10c.id, { gpuInstanceId: 7 });
    await fs.addVfioVf("0000:2a:00.5", "0000:2a:00.0", [h100_1_10c]);
    const { types, vfioVfs } = await new VgpuSysfsReader({ sysfsRoot: fs.root }).scan();
    expect(vfioVfs.map((v) => [v.vfPci, v.currentTypeId, v.gpuInstanceId])).toEqual([
      ["0000:2a:00.4", "nvidia-929", 7], ["0000:2a:00.5", undefined, undefined],
    ]);
    expect(types.map((t) => [t.parentPci, t.typeId, t.availableInstances, t.gpuInstanceId])).toEqual([
      ["0000:2a:00.4", "nvidia-929", 0, 7], ["0000:2a:00.5", "nvidia-929", 1, undefined],
    ]);
  });

  it("offers nothing from a VF whose current_vgpu_type cannot be read, with a warning", async () => {
    await fs.addPciDevice("0000:2a:00.0");
    await fs.addVfioVf("0000:2a:00.4", "0000:2a:00.0", [{ id: 942, name: "NVIDIA H100-10C" }]);
    const current = join(fs.devicePath("0000:2a:00.4"), "nvidia/current_vgpu_type");
    await rm(current);
    await mkdir(current); // reading it now fails with EISDIR
    const { types, warnings } = await new VgpuSysfsReader({ sysfsRoot: fs.root }).scan();
    expect(types).toEqual([]);
    expect(warnings).toHaveLength(2);
    expect(warnings[0]).toMatch(/current_vgpu_type: .*EISDIR/);
    expect(warnings[1]).toBe("0000:2a:00.4: current_vgpu_type unreadable; its vGPU types are not counted as free");
  });

  it("warns and skips a type whose available_instances is unreadable", async () => {
    await fs.addMdevParent("0000:84:00.0", [{ typeId: "nvidia-35", name: "GRID M60-0B", availableInstances: 1 }]);
    await writeFile(join(fs.devicePath("0000:84:00.0"), "mdev_supported_types/nvidia-35/available_instances"), "garbage\n");
    const { types, warnings } = await new VgpuSysfsReader({ sysfsRoot: fs.root }).scan();
    expect(types).toEqual([]);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/available_instances: not a number/);
  });

  it("turns an unreadable sysfs file into a warning instead of an error", async () => {
    await fs.addMdevParent("0000:84:00.0", [
      { typeId: "nvidia-35", name: "x", availableInstances: 1 }, { typeId: "nvidia-36", name: "GRID M60-1B", availableInstances: 4 },
    ]);
    const name = join(fs.devicePath("0000:84:00.0"), "mdev_supported_types/nvidia-35/name");
    await rm(name);
    await mkdir(name); // reading it now fails with EISDIR
    const { types, warnings } = await new VgpuSysfsReader({ sysfsRoot: fs.root }).scan();
    expect(types.map((t) => t.typeId)).toEqual(["nvidia-36"]);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/mdev_supported_types\/nvidia-35 failed: .*EISDIR/);
  });

  it("reads a device's NUMA node, -1 when the kernel does not know or the device is absent", async () => {
    await fs.addPciDevice("0000:01:00.0", { numaNode: 1 });
    await fs.addPciDevice("0000:02:00.0", { numaNode: -1 });
    const r = new VgpuSysfsReader({ sysfsRoot: fs.root });
    expect(await r.numaNode("0000:01:00.0")).toBe(1);
    expect(await r.numaNode("0000:02:00.0")).toBe(-1);
    expect(await r.numaNode("0000:09:00.0")).toBe(-1);
  });
});
