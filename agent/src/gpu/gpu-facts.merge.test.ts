import { describe, expect, it } from "vitest";
import { mergeGpuFacts, vgpuTypesOfGpu } from "./gpu-facts.merge.js";
import { parseNvidiaSmiList } from "./nvidia-smi-list.parser.js";
import { parseNvidiaSmiText } from "./nvidia-smi-text.parser.js";
import { parseNvidiaSmiTopo } from "./nvidia-smi-topo.parser.js";
import { parseNvidiaSmiVgpuTypes } from "./nvidia-smi-vgpu.parser.js";
import { parseNvidiaSmiXml } from "./nvidia-smi-xml.parser.js";
import { readGpuFixture } from "./test-fixtures.js";
import type { SysfsVgpuType } from "./vgpu-sysfs.reader.js";

const sysfsType = (p: Partial<SysfsVgpuType> & Pick<SysfsVgpuType, "parentPci" | "gpuPci" | "typeId">): SysfsVgpuType => ({
  name: "", availableInstances: 1, maxInstances: undefined, framebufferMib: undefined, description: "", deviceApi: "vfio-pci", framework: "mdev", ...p,
});

describe("mergeGpuFacts", () => {
  it("H100 (one machine: -q, -L and topo -m): MIG profiles and UUIDs from -L, NUMA and CPUs from topo", () => {
    const { gpus, warnings } = mergeGpuFacts({
      report: parseNvidiaSmiText(readGpuFixture("nvidia-smi-q.h100-80gb-hbm3-mig.driver590.txt")),
      list: parseNvidiaSmiList(readGpuFixture("nvidia-smi-L.h100-80gb-hbm3-mig.driver590.txt")),
      topology: parseNvidiaSmiTopo(readGpuFixture("nvidia-smi-topo-m.h100-80gb-hbm3-single-gpu.driver590.ansi.txt")),
    });
    expect(warnings).toEqual([]);
    expect(gpus).toEqual([{
      pciAddress: "0000:00:09.0",
      uuid: "GPU-00000000-0000-0000-0000-000000000000",
      model: "NVIDIA H100 80GB HBM3",
      memoryMib: 81559,
      numaNode: 0,
      virtualizationMode: "passthrough",
      migEnabled: true,
      migDevices: [
        { gpuInstanceId: 2, computeInstanceId: 0, profile: "3g.40gb", memoryMib: 40448, uuid: "MIG-00000000-0000-0000-0000-000000000000" },
        { gpuInstanceId: 3, computeInstanceId: 0, profile: "2g.20gb", memoryMib: 20096, uuid: "MIG-00000001-0000-0000-0000-000000000001" },
        { gpuInstanceId: 9, computeInstanceId: 0, profile: "1g.10gb", memoryMib: 9984, uuid: "MIG-00000002-0000-0000-0000-000000000002" },
        { gpuInstanceId: 10, computeInstanceId: 0, profile: "1g.10gb", memoryMib: 9984, uuid: "MIG-00000003-0000-0000-0000-000000000003" },
      ],
      nvlinkPeers: [],
      vgpuTypes: [],
      driverVersion: "590.48.01",
      cpuAffinity: "0-19",
    }]);
  });

  it("A100 MIG without -L keeps MIG devices with empty profiles", () => {
    const { gpus } = mergeGpuFacts({ report: parseNvidiaSmiXml(readGpuFixture("nvidia-smi-q-x.a100-sxm4-80gb-mig.driver535.v12.xml")) });
    expect(gpus[0]!.migEnabled).toBe(true);
    expect(gpus[0]!.migDevices.map((m) => [m.gpuInstanceId, m.profile, m.memoryMib])).toEqual([
      [3, "", 19968], [4, "", 19968], [5, "", 19968], [6, "", 19968],
    ]);
    expect(gpus[0]!.numaNode).toBe(-1);
    expect(gpus[0]!.cpuAffinity).toBe("");
  });

  it("maps NVLink peers from topo indexes to PCI addresses (8 V100S report with an 8-GPU NV12 matrix)", () => {
    // Two machines' captures put together to exercise the index → PCI address mapping.
    const { gpus, warnings } = mergeGpuFacts({
      report: parseNvidiaSmiXml(readGpuFixture("nvidia-smi-q-x.v100s-pcie-32gb-x8-passthrough.driver460.v11.xml")),
      topology: parseNvidiaSmiTopo(readGpuFixture("nvidia-smi-topo-m.a100-sxm-x8.ml-engineering.txt")),
    });
    expect(warnings).toEqual([]);
    const all = gpus.map((g) => g.pciAddress);
    expect(all[0]).toBe("0000:00:0d.0");
    for (const g of gpus) {
      expect(g.nvlinkPeers).toEqual(all.filter((a) => a !== g.pciAddress));
      expect(g.numaNode).toBe(all.indexOf(g.pciAddress) < 4 ? 0 : 1);
    }
  });

  it("warns about NVLink peers that -q does not list (trimmed A100 report, 8-GPU matrix)", () => {
    const { gpus, warnings } = mergeGpuFacts({
      report: parseNvidiaSmiXml(readGpuFixture("nvidia-smi-q-x.a100-sxm4-80gb-mig.driver535.v12.xml")),
      topology: parseNvidiaSmiTopo(readGpuFixture("nvidia-smi-topo-m.hgx-h100-x8.ml-engineering.txt")),
    });
    expect(gpus[0]!.nvlinkPeers).toEqual([]);
    expect(gpus[0]!.cpuAffinity).toBe("0-51,104-155");
    expect(warnings).toHaveLength(7);
    expect(warnings[0]).toMatch(/GPU0 has an NVLink to GPU1/);
  });

  it("uses the sysfs NUMA node when topo -m is missing or says N/A", () => {
    const report = parseNvidiaSmiXml(readGpuFixture("nvidia-smi-q-x.rtx-a5000-x2.driver590.v13.xml"));
    const { gpus } = mergeGpuFacts({ report, sysfsNumaNodes: { "0000:81:00.0": 1, "0000:c1:00.0": -1 } });
    expect(gpus.map((g) => g.numaNode)).toEqual([1, -1]);
  });

  it("attaches vGPU types by physical GPU, summing instances over its VFs", () => {
    const report = parseNvidiaSmiXml(readGpuFixture("nvidia-smi-q-x.rtx-a5000-x2.driver590.v13.xml"));
    const { gpus } = mergeGpuFacts({
      report,
      sysfsVgpuTypes: [
        sysfsType({ parentPci: "0000:81:00.4", gpuPci: "0000:81:00.0", typeId: "nvidia-657", name: "NVIDIA RTXA5000-4Q", maxInstances: 1, framebufferMib: 4096 }),
        sysfsType({ parentPci: "0000:81:00.5", gpuPci: "0000:81:00.0", typeId: "nvidia-657", name: "NVIDIA RTXA5000-4Q", maxInstances: 1, framebufferMib: 4096 }),
        sysfsType({ parentPci: "0000:81:00.5", gpuPci: "0000:81:00.0", typeId: "nvidia-660", name: "NVIDIA RTXA5000-24Q", availableInstances: 0 }),
      ],
    });
    expect(gpus[0]!.vgpuTypes).toEqual([
      { typeId: "nvidia-657", name: "NVIDIA RTXA5000-4Q", availableInstances: 2, maxInstances: 2, framebufferMib: 4096, description: "" },
      { typeId: "nvidia-660", name: "NVIDIA RTXA5000-24Q", availableInstances: 0, maxInstances: 0, framebufferMib: 0, description: "" },
    ]);
    expect(gpus[1]!.vgpuTypes).toEqual([]);
  });
});

describe("vgpuTypesOfGpu", () => {
  it("enriches creatable types with nvidia-smi vgpu -s limits and adds supported ones with 0 available", () => {
    const supported = parseNvidiaSmiVgpuTypes(readGpuFixture("nvidia-smi-vgpu-s-v.rtx-pro-6000-blackwell-dc.driver580.excerpt.txt"));
    const types = vgpuTypesOfGpu("0000:8c:00.0", [
      sysfsType({ parentPci: "0000:8c:00.4", gpuPci: "0000:8c:00.0", typeId: "nvidia-1521", name: "NVIDIA RTX Pro 6000 Blackwell DC-4Q", framework: "vfio" }),
      sysfsType({ parentPci: "0000:8c:00.5", gpuPci: "0000:8c:00.0", typeId: "nvidia-1521", name: "NVIDIA RTX Pro 6000 Blackwell DC-4Q", framework: "vfio" }),
    ], supported);
    expect(types.map((t) => [t.typeId, t.name, t.availableInstances, t.maxInstances, t.framebufferMib])).toEqual([
      ["nvidia-1518", "NVIDIA RTX Pro 6000 Blackwell DC-2B", 0, 32, 2048],
      ["nvidia-1521", "NVIDIA RTX Pro 6000 Blackwell DC-4Q", 2, 24, 4096],
      ["nvidia-1540", "NVIDIA RTX Pro 6000 Blackwell DC-48Q", 0, 2, 49152],
      ["nvidia-1546", "NVIDIA RTX Pro 6000 Blackwell DC-1-2Q", 0, 48, 2048],
    ]);
  });
});
