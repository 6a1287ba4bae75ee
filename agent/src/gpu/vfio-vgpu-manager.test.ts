import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { ConflictError, InsufficientCapacityError, InvalidArgumentError, NotFoundError } from "#shared/errors.js";
import { FakeSysfs } from "./fake-sysfs.js";
import { VfioVgpuManager } from "./vfio-vgpu-manager.js";

describe("VfioVgpuManager", () => {
  let fs: FakeSysfs;
  let vgpu: VfioVgpuManager;
  const current = (vf: string) => readFile(join(fs.devicePath(vf), "nvidia/current_vgpu_type"), "utf8");
  beforeEach(async () => {
    fs = await FakeSysfs.create();
    await fs.addPciDevice("0000:3d:00.0");
    await fs.addVfioVf("0000:3d:00.4", "0000:3d:00.0", [], 1414);
    await fs.addVfioVf("0000:3d:00.5", "0000:3d:00.0", [{ id: 1428, name: "NVIDIA H200X-141C" }, { id: 1414, name: "NVIDIA H200X-1-18C" }]);
    await fs.addPciDevice("0000:3e:00.0");
    vgpu = new VfioVgpuManager({ sysfsRoot: fs.root });
  });
  afterEach(async () => { await fs.dispose(); });

  it("creates a vGPU by writing the numeric type id to current_vgpu_type", async () => {
    expect(await vgpu.create("0000:3d:00.5", "nvidia-1414")).toEqual({ vfPci: "0000:3d:00.5", gpuPci: "0000:3d:00.0", typeId: "nvidia-1414" });
    expect(await current("0000:3d:00.5")).toBe("1414");
  });

  it("refuses a busy VF, a type not creatable now, and a device that is no vGPU VF", async () => {
    await expect(vgpu.create("0000:3d:00.4", "nvidia-1414")).rejects.toThrow(ConflictError);
    const err = await vgpu.create("0000:3d:00.5", "nvidia-1500").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InsufficientCapacityError);
    expect((err as Error).message).toBe("vGPU type nvidia-1500 cannot be created on 0000:3d:00.5 now (creatable: nvidia-1428, nvidia-1414)");
    expect(await current("0000:3d:00.5")).toBe("0\n");
    await expect(vgpu.create("0000:3e:00.0", "nvidia-1414")).rejects.toThrow(NotFoundError);
    await expect(vgpu.create("0000:3d:00.5", "nvidia-x")).rejects.toThrow(InvalidArgumentError);
  });

  it("lists VFs holding a vGPU and finds a free VF for a type", async () => {
    expect(await vgpu.list()).toEqual([{ vfPci: "0000:3d:00.4", gpuPci: "0000:3d:00.0", typeId: "nvidia-1414" }]);
    expect(await vgpu.findFreeVf("0000:3d:00.0", "nvidia-1428")).toBe("0000:3d:00.5");
    expect(await vgpu.findFreeVf("0000:3d:00.0", "nvidia-9")).toBeUndefined();
    expect(await vgpu.findFreeVf("0000:3e:00.0", "nvidia-1428")).toBeUndefined();
  });

  it("removes by writing 0; removing from a free VF is a no-op", async () => {
    expect(await vgpu.remove("0000:3d:00.4")).toBe(true);
    expect(await current("0000:3d:00.4")).toBe("0");
    expect(await vgpu.remove("0000:3d:00.5")).toBe(false);
  });
});
