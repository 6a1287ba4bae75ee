import { describe, expect, it } from "vitest";
import { GpuParseError } from "./gpu-parse-error.js";
import { parseNvidiaSmiList } from "./nvidia-smi-list.parser.js";
import { readGpuFixture } from "./test-fixtures.js";

describe("parseNvidiaSmiList", () => {
  it("reads the H100 MIG capture: one GPU and its four MIG devices with profiles", () => {
    const gpus = parseNvidiaSmiList(readGpuFixture("nvidia-smi-L.h100-80gb-hbm3-mig.driver590.txt"));
    expect(gpus).toHaveLength(1);
    const g = gpus[0]!;
    expect(g.index).toBe(0);
    expect(g.name).toBe("NVIDIA H100 80GB HBM3");
    expect(g.uuid).toBe("GPU-00000000-0000-0000-0000-000000000000");
    expect(g.migDevices).toEqual([
      { index: 0, profile: "3g.40gb", uuid: "MIG-00000000-0000-0000-0000-000000000000" },
      { index: 1, profile: "2g.20gb", uuid: "MIG-00000001-0000-0000-0000-000000000001" },
      { index: 2, profile: "1g.10gb", uuid: "MIG-00000002-0000-0000-0000-000000000002" },
      { index: 3, profile: "1g.10gb", uuid: "MIG-00000003-0000-0000-0000-000000000003" },
    ]);
  });

  it("reads several GPUs without MIG and the older MIG UUID form", () => {
    const gpus = parseNvidiaSmiList(
      "GPU 0: Tesla T4 (UUID: GPU-aaa)\r\nGPU 1: NVIDIA A100-PCIE-40GB (UUID: GPU-bbb)\n" +
      "  MIG 1g.5gb Device 0: (UUID: MIG-GPU-bbb/7/0)\n",
    );
    expect(gpus.map((g) => [g.index, g.name, g.uuid, g.migDevices.length])).toEqual([
      [0, "Tesla T4", "GPU-aaa", 0], [1, "NVIDIA A100-PCIE-40GB", "GPU-bbb", 1],
    ]);
    expect(gpus[1]!.migDevices[0]).toEqual({ index: 0, profile: "1g.5gb", uuid: "MIG-GPU-bbb/7/0" });
  });

  it("returns nothing for empty output and rejects an error message", () => {
    expect(parseNvidiaSmiList("")).toEqual([]);
    expect(() => parseNvidiaSmiList("No devices were found")).toThrow(GpuParseError);
  });
});
