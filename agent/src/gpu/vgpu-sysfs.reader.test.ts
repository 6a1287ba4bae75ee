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
    expect(scan).toEqual({ types: [], warnings: [] });
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
