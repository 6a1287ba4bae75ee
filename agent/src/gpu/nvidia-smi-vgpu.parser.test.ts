import { describe, expect, it } from "vitest";
import { GpuParseError } from "./gpu-parse-error.js";
import { parseNvidiaSmiVgpuTypes } from "./nvidia-smi-vgpu.parser.js";
import { readGpuSample } from "./test-fixtures.js";

const H100_SAMPLE = "nvidia-smi-vgpu-s-v.h100-pcie-x2-vgpu-host.driver580.txt";

describe("parseNvidiaSmiVgpuTypes", () => {
  it("reads the H100 PCIe vGPU host sample: two GPUs, each with 2 MIG-backed and 4 time-sliced types", () => {
    const { gpus, warnings } = parseNvidiaSmiVgpuTypes(readGpuSample(H100_SAMPLE));
    expect(warnings).toEqual([]);
    expect(gpus.map((g) => [g.busId, g.pciAddress])).toEqual([["00000000:2A:00.0", "0000:2a:00.0"], ["00000000:AB:00.0", "0000:ab:00.0"]]);
    for (const g of gpus) {
      expect(g.types.map((t) => [t.vgpuTypeId, t.typeId, t.name, t.vgpuClass, t.maxInstances, t.maxInstancesPerVm, t.framebufferMib, t.migBacked, t.gpuInstanceProfileId, t.maxInstancesPerGi]))
        .toEqual([
          [0x3a1, "nvidia-929", "NVIDIA H100-1-10C", "Compute", 7, 1, 10240, true, 19, 1],
          [0x3a4, "nvidia-932", "NVIDIA H100-3-40C", "Compute", 2, 1, 40960, true, 9, 1],
          [0x3ab, "nvidia-939", "NVIDIA H100-4C", "Compute", 20, 16, 4096, false, undefined, undefined],
          [0x3ae, "nvidia-942", "NVIDIA H100-10C", "Compute", 8, 8, 10240, false, undefined, undefined],
          [0x3b1, "nvidia-945", "NVIDIA H100-40C", "Compute", 2, 2, 40960, false, undefined, undefined],
          [0x3b2, "nvidia-946", "NVIDIA H100-80C", "Compute", 1, 1, 81920, false, undefined, undefined],
        ]);
      expect(g.types[0]!.fields["Multi vGPU Exclusive"]).toBe("False");
    }
  });

  it("reads several GPUs and a GPU without types", () => {
    const { gpus } = parseNvidiaSmiVgpuTypes(
      "GPU 00000000:01:00.0\n    vGPU Type ID : 0x2b4\n        Name : GRID A100D-4C\nGPU 00000000:02:00.0\n",
    );
    expect(gpus.map((g) => [g.pciAddress, g.types.map((t) => t.typeId)])).toEqual([
      ["0000:01:00.0", ["nvidia-692"]], ["0000:02:00.0", []],
    ]);
  });

  it("keeps every type when one line is unexpected, and warns about that line", () => {
    const lines = readGpuSample(H100_SAMPLE).split("\n");
    // A line a newer driver might add, at top level in the middle of the first GPU's types.
    lines.splice(20, 0, "Note: vGPU scheduler is in best-effort mode");
    const { gpus, warnings } = parseNvidiaSmiVgpuTypes(lines.join("\n"));
    expect(gpus.map((g) => g.types.length)).toEqual([6, 6]);
    expect(warnings).toEqual(["nvidia-smi vgpu -s -v: line not understood, skipped: Note: vGPU scheduler is in best-effort mode"]);
  });

  it("skips a type whose id is unreadable, with a warning, and keeps the others", () => {
    const { gpus, warnings } = parseNvidiaSmiVgpuTypes(
      "GPU 00000000:01:00.0\n    vGPU Type ID : [Unknown Error]\n        Name : lost\n    vGPU Type ID : 0x2b5\n        Name : GRID A100D-8C\n",
    );
    expect(gpus[0]!.types.map((t) => [t.typeId, t.name])).toEqual([["nvidia-693", "GRID A100D-8C"]]);
    expect(warnings).toEqual(["nvidia-smi vgpu -s -v: unreadable vGPU type id on GPU 00000000:01:00.0: [Unknown Error]; that type skipped"]);
  });

  it("reads placeholders as absent values, never as a name or a limit", () => {
    const { gpus } = parseNvidiaSmiVgpuTypes(
      "GPU 00000000:01:00.0\n    vGPU Type ID : 0x2b4\n        Name : [N/A]\n        Max Instances : Not Supported\n        FB Memory : [Insufficient Permissions]\n        Class : Not Found\n",
    );
    expect(gpus[0]!.types.map((t) => [t.name, t.maxInstances, t.framebufferMib, t.vgpuClass])).toEqual([["", undefined, undefined, undefined]]);
  });

  it("rejects text that is not a vGPU listing", () => {
    expect(() => parseNvidiaSmiVgpuTypes("No supported devices in vGPU mode")).toThrow(GpuParseError);
  });

  it("reads 2 MB lines in linear time (a backtracking key/value pattern would take minutes)", () => {
    const longValue = `NVIDIA ${"a  ".repeat(700_000)}H100-4C`;
    const text = [
      "GPU 00000000:01:00.0",
      "    vGPU Type ID : 0x3ab",
      `        Name : ${longValue}`,
      `    ${" ".repeat(2_000_000)}no colon here`,
      `        Key ${" ".repeat(2_000_000)}: ${" ".repeat(2_000_000)}v${" ".repeat(2_000_000)}`,
    ].join("\n");
    const { gpus, warnings } = parseNvidiaSmiVgpuTypes(text);
    expect(gpus[0]!.types[0]!.name).toBe(longValue);
    expect(gpus[0]!.types[0]!.fields["Key"]).toBe("v");
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/^nvidia-smi vgpu -s -v: line not understood, skipped: no colon here$/);
  });
});
