import { describe, expect, it } from "vitest";
import { GpuParseError } from "./gpu-parse-error.js";
import { parseNvidiaSmiList } from "./nvidia-smi-list.parser.js";
import { readGpuSample } from "./test-fixtures.js";

const H200_SAMPLE = "nvidia-smi-L.h200-mig-vm.driver570.txt";

describe("parseNvidiaSmiList", () => {
  it("reads the H200 sample: one GPU and its four MIG devices with profiles", () => {
    const { gpus, warnings } = parseNvidiaSmiList(readGpuSample(H200_SAMPLE));
    expect(warnings).toEqual([]);
    expect(gpus).toHaveLength(1);
    const g = gpus[0]!;
    expect(g.index).toBe(0);
    expect(g.name).toBe("NVIDIA H200");
    expect(g.uuid).toBe("GPU-8e2b51d7-46ac-4f03-b9e1-c07d2a6f5394");
    expect(g.migDevices).toEqual([
      { index: 0, profile: "3g.71gb", uuid: "MIG-4c1f9a2e-7d35-5b80-a6e3-19d8c02f7b54" },
      { index: 1, profile: "2g.35gb", uuid: "MIG-5d20ab3f-8e46-5c91-b7f4-2ae9d1308c65" },
      { index: 2, profile: "1g.18gb", uuid: "MIG-6e31bc40-9f57-5da2-88a5-3bfae2419d76" },
      { index: 3, profile: "1g.18gb", uuid: "MIG-7f42cd51-a068-5eb3-99b6-4c0bf352ae87" },
    ]);
  });

  it("reads several GPUs without MIG and the older MIG UUID form", () => {
    const { gpus } = parseNvidiaSmiList(
      "GPU 0: Tesla T4 (UUID: GPU-aaa)\r\nGPU 1: NVIDIA A100-PCIE-40GB (UUID: GPU-bbb)\n" +
      "  MIG 1g.5gb Device 0: (UUID: MIG-GPU-bbb/7/0)\n",
    );
    expect(gpus.map((g) => [g.index, g.name, g.uuid, g.migDevices.length])).toEqual([
      [0, "Tesla T4", "GPU-aaa", 0], [1, "NVIDIA A100-PCIE-40GB", "GPU-bbb", 1],
    ]);
    expect(gpus[1]!.migDevices[0]).toEqual({ index: 0, profile: "1g.5gb", uuid: "MIG-GPU-bbb/7/0" });
  });

  it("reads the same whether lines are indented or not", () => {
    const sample = readGpuSample(H200_SAMPLE);
    const flat = sample.split("\n").map((l) => l.trimStart()).join("\n");
    const indented = sample.split("\n").map((l) => (l ? `\t    ${l}` : l)).join("\n");
    expect(parseNvidiaSmiList(flat)).toEqual(parseNvidiaSmiList(sample));
    expect(parseNvidiaSmiList(indented)).toEqual(parseNvidiaSmiList(sample));
  });

  it("keeps the GPUs it understood and warns about the lines it did not", () => {
    const { gpus, warnings } = parseNvidiaSmiList(
      "GPU 0: NVIDIA A10 (UUID: GPU-aaa)\nWARNING: infoROM is corrupted at gpu 0000:00:1E.0\n  vGPU 3: something new\nGPU 1: NVIDIA A10 (UUID: GPU-bbb)\n",
    );
    expect(gpus.map((g) => g.uuid)).toEqual(["GPU-aaa", "GPU-bbb"]);
    expect(warnings).toEqual([
      "nvidia-smi -L: line not understood, skipped: WARNING: infoROM is corrupted at gpu 0000:00:1E.0",
      "nvidia-smi -L: line not understood, skipped: vGPU 3: something new",
    ]);
  });

  it("reads a placeholder UUID as no UUID", () => {
    const { gpus } = parseNvidiaSmiList("GPU 0: NVIDIA A10 (UUID: N/A)\nGPU 1: NVIDIA A10 (UUID: [Unknown Error])\n");
    expect(gpus.map((g) => g.uuid)).toEqual(["", ""]);
  });

  it("returns nothing for empty output and rejects an error message", () => {
    expect(parseNvidiaSmiList("")).toEqual({ gpus: [], warnings: [] });
    expect(() => parseNvidiaSmiList("No devices were found")).toThrow(GpuParseError);
  });

  it("reads a 2 MB line in linear time (a backtracking pattern would take minutes)", () => {
    // A long run of spaces is what made the old lazy `(.*?)\s*\(UUID:` pattern quadratic
    // (0.4 s at 20k characters).
    const name = `NVIDIA${" ".repeat(2_000_000)}H100`;
    const { gpus, warnings } = parseNvidiaSmiList(
      `GPU 0: ${name} (UUID: GPU-aaa)\nGPU 1: a${" ".repeat(2_000_000)}x\n  MIG 1g.5gb${" ".repeat(2_000_000)}\n`,
    );
    expect(gpus.map((g) => [g.name.length, g.uuid])).toEqual([[name.length, "GPU-aaa"]]);
    expect(warnings).toHaveLength(2);
  });
});
