import { describe, expect, it } from "vitest";
import { GpuParseError } from "./gpu-parse-error.js";
import { parseNvidiaSmiText } from "./nvidia-smi-text.parser.js";
import { parseNvidiaSmiXml } from "./nvidia-smi-xml.parser.js";
import { readGpuSample } from "./test-fixtures.js";

describe("parseNvidiaSmiText", () => {
  it("reads the H200 sample: pass-through VM, 4 MIG devices", () => {
    const r = parseNvidiaSmiText(readGpuSample("nvidia-smi-q.h200-mig-vm.driver570.txt"));
    expect(r.driverVersion).toBe("570.133.20");
    expect(r.cudaVersion).toBe("12.8");
    expect(r.attachedGpus).toBe(1);
    const g = r.gpus[0]!;
    expect(g.busId).toBe("00000000:00:05.0");
    expect(g.pciAddress).toBe("0000:00:05.0");
    expect(g.uuid).toBe("GPU-8e2b51d7-46ac-4f03-b9e1-c07d2a6f5394");
    expect(g.productName).toBe("NVIDIA H200");
    expect(g.architecture).toBe("Hopper");
    expect(g.memoryMib).toBe(143771);
    expect(g.minorNumber).toBe(0);
    expect(g.virtualizationMode).toBe("passthrough");
    expect(g.migCurrent).toBe("enabled");
    expect(g.migDevices.map((m) => [m.index, m.gpuInstanceId, m.computeInstanceId, m.memoryMib, m.multiprocessorCount])).toEqual([
      [0, 1, 0, 67840, 60], [1, 4, 0, 33664, 32], [2, 11, 0, 16768, 16], [3, 12, 0, 16768, 16],
    ]);
  });

  it("agrees with --query-gpu CSV of the same H200 machine", () => {
    // The CSV has no quoted fields: splitting on ", " is enough for this cross-check.
    const [header, row] = readGpuSample("nvidia-smi-query-gpu.h200-mig-vm.driver570.csv").trim().split("\n")
      .map((l) => l.split(", ")) as [string[], string[]];
    const csv = (k: string) => row[header.indexOf(k)];
    const r = parseNvidiaSmiText(readGpuSample("nvidia-smi-q.h200-mig-vm.driver570.txt"));
    const g = r.gpus[0]!;
    expect([r.driverVersion, r.gpus.length, g.busId, g.uuid, g.productName, `${g.memoryMib} MiB`, g.migCurrent])
      .toEqual([csv("driver_version"), Number(csv("count")), csv("pci.bus_id"), csv("uuid"), csv("name"), csv("memory.total [MiB]"), csv("mig.mode.current")?.toLowerCase()]);
  });

  it("reads the A10 sample: pass-through, MIG N/A", () => {
    const r = parseNvidiaSmiText(readGpuSample("nvidia-smi-q.a10-vm.driver550.txt"));
    expect(r.driverVersion).toBe("550.127.05");
    expect(r.cudaVersion).toBe("12.4");
    const g = r.gpus[0]!;
    expect(g.pciAddress).toBe("0000:00:1e.0");
    expect(g.productName).toBe("NVIDIA A10");
    expect(g.architecture).toBe("Ampere");
    expect(g.memoryMib).toBe(23028);
    expect(g.virtualizationMode).toBe("passthrough");
    expect(g.migCurrent).toBeUndefined();
    expect(g.migDevices).toEqual([]);
  });

  it("says the same as the XML parser about the same machine (A10 VM, -q and -q -x)", () => {
    const text = parseNvidiaSmiText(readGpuSample("nvidia-smi-q.a10-vm.driver550.txt"));
    const xml = parseNvidiaSmiXml(readGpuSample("nvidia-smi-q-x.a10-vm.driver550.v12.xml"));
    expect(text).toEqual(xml);
  });

  it("rejects text that is not an nvidia-smi report", () => {
    expect(() => parseNvidiaSmiText("command not found")).toThrow(GpuParseError);
  });

  it("reads placeholders as absent values through the same helper as the XML parser", () => {
    const r = parseNvidiaSmiText([
      "Driver Version                            : Not Found",
      "CUDA Version                              : [N/A]",
      "Attached GPUs                             : 1",
      "GPU 00000000:01:00.0",
      "    Product Name                          : [Unknown Error]",
      "    GPU UUID                              : [Insufficient Permissions]",
      "    GPU Virtualization Mode",
      "        Virtualization Mode               : Not Supported",
      "    MIG Mode",
      "        Current                           : [GPU requires reset]",
    ].join("\n"));
    expect([r.driverVersion, r.cudaVersion]).toEqual(["", undefined]);
    expect(r.gpus.map((g) => [g.productName, g.uuid, g.virtualizationMode, g.migCurrent])).toEqual([["", "", "unknown", undefined]]);
  });
});
