import { describe, expect, it } from "vitest";
import { GpuParseError } from "./gpu-parse-error.js";
import { parseNvidiaSmiTopo } from "./nvidia-smi-topo.parser.js";
import { readGpuFixture } from "./test-fixtures.js";

const allOthers = (self: number, n: number, links: number) =>
  Array.from({ length: n }, (_, i) => i).filter((i) => i !== self).map((index) => ({ index, links }));

describe("parseNvidiaSmiTopo on real captures", () => {
  it("single H100: tabs, ANSI-underlined header, GPU NUMA ID column", () => {
    const t = parseNvidiaSmiTopo(readGpuFixture("nvidia-smi-topo-m.h100-80gb-hbm3-single-gpu.driver590.ansi.txt"));
    expect(t.gpus).toEqual([
      { index: 0, links: { GPU0: "X" }, nvlinkPeers: [], cpuAffinity: "0-19", numaNode: 0, gpuNumaId: undefined },
    ]);
    expect(t.otherDevices).toEqual([]);
  });

  it("HGX H100 x8 (spaces): NV18 all-to-all, two NUMA nodes with hyper-threaded CPU lists", () => {
    const t = parseNvidiaSmiTopo(readGpuFixture("nvidia-smi-topo-m.hgx-h100-x8.ml-engineering.txt"));
    expect(t.gpus.map((g) => g.index)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    for (const g of t.gpus) {
      expect(g.nvlinkPeers).toEqual(allOthers(g.index, 8, 18));
      expect(g.links[`GPU${g.index}`]).toBe("X");
      expect(g.cpuAffinity).toBe(g.index < 4 ? "0-51,104-155" : "52-103,156-207");
      expect(g.numaNode).toBe(g.index < 4 ? 0 : 1);
      expect(g.gpuNumaId).toBeUndefined();
    }
  });

  it("A100 SXM x8 (re-spaced, no NIC and no GPU NUMA ID columns): NV12 all-to-all", () => {
    const t = parseNvidiaSmiTopo(readGpuFixture("nvidia-smi-topo-m.a100-sxm-x8.ml-engineering.txt"));
    expect(t.gpus).toHaveLength(8);
    for (const g of t.gpus) {
      expect(g.nvlinkPeers).toEqual(allOthers(g.index, 8, 12));
      expect(g.cpuAffinity).toBe(g.index < 4 ? "0-23" : "24-47");
      expect(g.numaNode).toBe(g.index < 4 ? 0 : 1);
    }
  });
});

describe("parseNvidiaSmiTopo shapes", () => {
  it("reads NIC columns and rows, PCIe-only links and N/A affinities (tab-separated)", () => {
    const text = [
      "\tGPU0\tGPU1\tNIC0\tCPU Affinity\tNUMA Affinity\tGPU NUMA ID",
      "GPU0\t X \tSYS\tPIX\t0-15\t0\t\tN/A",
      "GPU1\tSYS\t X \tSYS\tN/A\tN/A\t\t2",
      "NIC0\tPIX\tSYS\t X ",
      "",
      "Legend:",
      "  NV#  = Connection traversing a bonded set of # NVLinks",
    ].join("\n");
    const t = parseNvidiaSmiTopo(text);
    expect(t.otherDevices).toEqual(["NIC0"]);
    expect(t.gpus[0]).toEqual({
      index: 0, links: { GPU0: "X", GPU1: "SYS", NIC0: "PIX" }, nvlinkPeers: [], cpuAffinity: "0-15", numaNode: 0, gpuNumaId: undefined,
    });
    expect(t.gpus[1]).toMatchObject({ cpuAffinity: undefined, numaNode: -1, gpuNumaId: 2 });
  });

  it("reads a partial NVLink mesh", () => {
    const t = parseNvidiaSmiTopo(
      "        GPU0    GPU1    GPU2    CPU Affinity    NUMA Affinity\n" +
      "GPU0     X      NV4     SYS     0-7     0\n" +
      "GPU1    NV4      X      SYS     0-7     0\n" +
      "GPU2    SYS     SYS      X      8-15    1\n",
    );
    expect(t.gpus.map((g) => g.nvlinkPeers)).toEqual([[{ index: 1, links: 4 }], [{ index: 0, links: 4 }], []]);
  });

  it("rejects an error message", () => {
    expect(() => parseNvidiaSmiTopo("Failed to initialize NVML: Driver/library version mismatch")).toThrow(GpuParseError);
  });
});
