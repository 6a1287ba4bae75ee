import { describe, expect, it } from "vitest";
import { GpuParseError } from "./gpu-parse-error.js";
import { parseNvidiaSmiVgpuTypes } from "./nvidia-smi-vgpu.parser.js";
import { readGpuFixture } from "./test-fixtures.js";

describe("parseNvidiaSmiVgpuTypes", () => {
  it("reads the RTX PRO 6000 Blackwell DC excerpt: 3 time-sliced types and 1 MIG-backed", () => {
    const gpus = parseNvidiaSmiVgpuTypes(readGpuFixture("nvidia-smi-vgpu-s-v.rtx-pro-6000-blackwell-dc.driver580.excerpt.txt"));
    expect(gpus).toHaveLength(1);
    expect(gpus[0]!.busId).toBe("00000000:8C:00.0");
    expect(gpus[0]!.pciAddress).toBe("0000:8c:00.0");
    expect(gpus[0]!.types.map((t) => [t.vgpuTypeId, t.typeId, t.name, t.vgpuClass, t.maxInstances, t.maxInstancesPerVm, t.framebufferMib, t.migBacked, t.gpuInstanceProfileId, t.maxInstancesPerGi]))
      .toEqual([
        [0x5ee, "nvidia-1518", "NVIDIA RTX Pro 6000 Blackwell DC-2B", "NVS", 32, 1, 2048, false, undefined, undefined],
        [0x5f1, "nvidia-1521", "NVIDIA RTX Pro 6000 Blackwell DC-4Q", "Quadro", 24, 16, 4096, false, undefined, undefined],
        [0x604, "nvidia-1540", "NVIDIA RTX Pro 6000 Blackwell DC-48Q", "Quadro", 2, 16, 49152, false, undefined, undefined],
        [0x60a, "nvidia-1546", "NVIDIA RTX Pro 6000 Blackwell DC-1-2Q", "Quadro", 48, 1, 2048, true, 19, 1],
      ]);
  });

  it("reads several GPUs and a GPU without types", () => {
    const gpus = parseNvidiaSmiVgpuTypes(
      "GPU 00000000:01:00.0\n    vGPU Type ID : 0x2b4\n        Name : GRID A100D-4C\nGPU 00000000:02:00.0\n",
    );
    expect(gpus.map((g) => [g.pciAddress, g.types.map((t) => t.typeId)])).toEqual([
      ["0000:01:00.0", ["nvidia-692"]], ["0000:02:00.0", []],
    ]);
  });

  it("rejects text that is not a vGPU listing", () => {
    expect(() => parseNvidiaSmiVgpuTypes("No supported devices in vGPU mode")).toThrow(GpuParseError);
  });
});
