import { describe, expect, it } from "vitest";
import { GpuParseError } from "./gpu-parse-error.js";
import { parseNvidiaSmiTopo } from "./nvidia-smi-topo.parser.js";
import { readGpuSample } from "./test-fixtures.js";

const allOthers = (self: number, n: number, links: number) =>
  Array.from({ length: n }, (_, i) => i).filter((i) => i !== self).map((index) => ({ index, links }));

describe("parseNvidiaSmiTopo on Orbit's samples (testdata/)", () => {
  it("single H200 in a VM: tabs, ANSI-underlined header, GPU NUMA ID column saying N/A", () => {
    const t = parseNvidiaSmiTopo(readGpuSample("nvidia-smi-topo-m.h200-mig-vm.driver570.ansi.txt"));
    expect(t.gpus).toEqual([
      { index: 0, links: { GPU0: "X" }, nvlinkPeers: [], cpuAffinity: "0-43", numaNode: 0, gpuNumaId: undefined },
    ]);
    expect(t.otherDevices).toEqual([]);
  });

  it("single A10 in a VM: NUMA Affinity N/A becomes -1", () => {
    const t = parseNvidiaSmiTopo(readGpuSample("nvidia-smi-topo-m.a10-vm.driver550.txt"));
    expect(t.gpus).toEqual([
      { index: 0, links: { GPU0: "X" }, nvlinkPeers: [], cpuAffinity: "0-7", numaNode: -1, gpuNumaId: undefined },
    ]);
  });

  it("HGX A100 x4 (pasted: spaces): NV4 all-to-all, NIC columns and rows, hyper-threaded CPU lists, NIC legend", () => {
    const t = parseNvidiaSmiTopo(readGpuSample("nvidia-smi-topo-m.a100-sxm4-40gb-x4.driver550.txt"));
    expect(t.gpus.map((g) => g.index)).toEqual([0, 1, 2, 3]);
    expect(t.otherDevices).toEqual(["NIC0", "NIC1"]);
    for (const g of t.gpus) {
      expect(g.nvlinkPeers).toEqual(allOthers(g.index, 4, 4));
      expect(g.links[`GPU${g.index}`]).toBe("X");
      expect(g.links.NIC0).toBe(g.index < 2 ? "PXB" : "SYS");
      expect(g.cpuAffinity).toBe(g.index < 2 ? "0-31,64-95" : "32-63,96-127");
      expect(g.numaNode).toBe(g.index < 2 ? 0 : 1);
      expect(g.gpuNumaId).toBeUndefined();
    }
  });

  it("V100 SXM2 x8 in a VM (tabs, no GPU NUMA ID column): hybrid cube-mesh, NV1 and NV2 to four peers each", () => {
    const t = parseNvidiaSmiTopo(readGpuSample("nvidia-smi-topo-m.v100-sxm2-32gb-x8-vm.driver470.txt"));
    expect(t.gpus).toHaveLength(8);
    expect(t.gpus.map((g) => g.nvlinkPeers)).toEqual([
      [{ index: 1, links: 1 }, { index: 2, links: 1 }, { index: 3, links: 2 }, { index: 4, links: 2 }],
      [{ index: 0, links: 1 }, { index: 2, links: 2 }, { index: 3, links: 1 }, { index: 5, links: 2 }],
      [{ index: 0, links: 1 }, { index: 1, links: 2 }, { index: 3, links: 2 }, { index: 6, links: 1 }],
      [{ index: 0, links: 2 }, { index: 1, links: 1 }, { index: 2, links: 2 }, { index: 7, links: 1 }],
      [{ index: 0, links: 2 }, { index: 5, links: 1 }, { index: 6, links: 1 }, { index: 7, links: 2 }],
      [{ index: 1, links: 2 }, { index: 4, links: 1 }, { index: 6, links: 2 }, { index: 7, links: 1 }],
      [{ index: 2, links: 1 }, { index: 4, links: 1 }, { index: 5, links: 2 }, { index: 7, links: 2 }],
      [{ index: 3, links: 1 }, { index: 4, links: 2 }, { index: 5, links: 1 }, { index: 6, links: 2 }],
    ]);
    for (const g of t.gpus) {
      // Six NVLinks per V100, and the matrix is symmetric.
      expect(g.nvlinkPeers.reduce((n, p) => n + p.links, 0)).toBe(6);
      for (const p of g.nvlinkPeers) expect(t.gpus[p.index]!.nvlinkPeers).toContainEqual({ index: g.index, links: p.links });
      expect(g.cpuAffinity).toBe(g.index < 4 ? "0-31" : "32-63");
      expect(g.numaNode).toBe(g.index < 4 ? 0 : 1);
      expect(g.gpuNumaId).toBeUndefined();
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

  it.each([
    "nvidia-smi-topo-m.a10-vm.driver550.txt",
    "nvidia-smi-topo-m.a100-sxm4-40gb-x4.driver550.txt",
    "nvidia-smi-topo-m.h200-mig-vm.driver570.ansi.txt",
    "nvidia-smi-topo-m.v100-sxm2-32gb-x8-vm.driver470.txt",
  ])("reads %s the same with its lines unindented, or indented by spaces or a tab", (sample) => {
    const text = readGpuSample(sample);
    const reindent = (f: (l: string) => string) => text.split("\n").map((l) => (l ? f(l) : l)).join("\n");
    const expected = parseNvidiaSmiTopo(text);
    expect(parseNvidiaSmiTopo(reindent((l) => l.trimStart()))).toEqual(expected);
    expect(parseNvidiaSmiTopo(reindent((l) => `    ${l}`))).toEqual(expected);
    expect(parseNvidiaSmiTopo(reindent((l) => `\t${l}`))).toEqual(expected);
  });

  it("reads placeholders in the affinity columns as unknown", () => {
    const t = parseNvidiaSmiTopo("\tGPU0\tCPU Affinity\tNUMA Affinity\tGPU NUMA ID\nGPU0\t X \t[Unknown Error]\tNot Supported\t[N/A]\n");
    expect(t.gpus[0]).toMatchObject({ cpuAffinity: undefined, numaNode: -1, gpuNumaId: undefined });
  });
});
