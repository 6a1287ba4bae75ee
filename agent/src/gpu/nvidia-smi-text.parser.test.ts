import { describe, expect, it } from "vitest";
import { GpuParseError } from "./gpu-parse-error.js";
import { parseNvidiaSmiText } from "./nvidia-smi-text.parser.js";
import { readGpuFixture } from "./test-fixtures.js";

describe("parseNvidiaSmiText", () => {
  it("reads the H100 MIG capture: pass-through VM, 4 MIG devices", () => {
    const r = parseNvidiaSmiText(readGpuFixture("nvidia-smi-q.h100-80gb-hbm3-mig.driver590.txt"));
    expect(r.driverVersion).toBe("590.48.01");
    expect(r.cudaVersion).toBe("13.1");
    expect(r.attachedGpus).toBe(1);
    const g = r.gpus[0]!;
    expect(g.busId).toBe("00000000:00:09.0");
    expect(g.pciAddress).toBe("0000:00:09.0");
    expect(g.uuid).toBe("GPU-00000000-0000-0000-0000-000000000000");
    expect(g.productName).toBe("NVIDIA H100 80GB HBM3");
    expect(g.architecture).toBe("Hopper");
    expect(g.memoryMib).toBe(81559);
    expect(g.minorNumber).toBe(0);
    expect(g.virtualizationMode).toBe("passthrough");
    expect(g.migCurrent).toBe("enabled");
    expect(g.migDevices.map((m) => [m.index, m.gpuInstanceId, m.computeInstanceId, m.memoryMib, m.multiprocessorCount])).toEqual([
      [0, 2, 0, 40448, 60], [1, 3, 0, 20096, 32], [2, 9, 0, 9984, 16], [3, 10, 0, 9984, 16],
    ]);
  });

  it("agrees with --query-gpu CSV captured on the same H100 machine", () => {
    // The CSV has no quoted fields: splitting on ", " is enough for this cross-check.
    const [header, row] = readGpuFixture("nvidia-smi-query-gpu.h100-80gb-hbm3-mig.driver590.csv").trim().split("\n")
      .map((l) => l.split(", ")) as [string[], string[]];
    const csv = (k: string) => row[header.indexOf(k)];
    const r = parseNvidiaSmiText(readGpuFixture("nvidia-smi-q.h100-80gb-hbm3-mig.driver590.txt"));
    const g = r.gpus[0]!;
    expect([r.driverVersion, r.gpus.length, g.busId, g.uuid, g.productName, `${g.memoryMib} MiB`, g.migCurrent])
      .toEqual([csv("driver_version"), Number(csv("count")), csv("pci.bus_id"), csv("uuid"), csv("name"), csv("memory.total [MiB]"), csv("mig.mode.current")?.toLowerCase()]);
  });

  it("reads the L40S capture: pass-through, MIG N/A", () => {
    const r = parseNvidiaSmiText(readGpuFixture("nvidia-smi-q.l40s.driver595.txt"));
    expect(r.driverVersion).toBe("595.80");
    expect(r.cudaVersion).toBe("13.2");
    const g = r.gpus[0]!;
    expect(g.pciAddress).toBe("0000:01:00.0");
    expect(g.productName).toBe("NVIDIA L40S");
    expect(g.architecture).toBe("Ada Lovelace");
    expect(g.memoryMib).toBe(46068);
    expect(g.virtualizationMode).toBe("passthrough");
    expect(g.migCurrent).toBeUndefined();
    expect(g.migDevices).toEqual([]);
  });

  it("rejects text that is not an nvidia-smi report", () => {
    expect(() => parseNvidiaSmiText("command not found")).toThrow(GpuParseError);
  });
});
