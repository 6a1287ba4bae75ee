import { describe, expect, it } from "vitest";
import { mergeGpuFacts, vgpuTypesOfGpu } from "./gpu-facts.merge.js";
import { parseNvidiaSmiList } from "./nvidia-smi-list.parser.js";
import { parseNvidiaSmiText } from "./nvidia-smi-text.parser.js";
import { parseNvidiaSmiTopo } from "./nvidia-smi-topo.parser.js";
import { parseNvidiaSmiVgpuTypes } from "./nvidia-smi-vgpu.parser.js";
import { parseNvidiaSmiXml } from "./nvidia-smi-xml.parser.js";
import { readGpuSample } from "./test-fixtures.js";
import type { SysfsVgpuType } from "./vgpu-sysfs.reader.js";

const sysfsType = (p: Partial<SysfsVgpuType> & Pick<SysfsVgpuType, "parentPci" | "gpuPci" | "typeId">): SysfsVgpuType => ({
  name: "", availableInstances: 1, maxInstances: undefined, framebufferMib: undefined, description: "", deviceApi: "vfio-pci", framework: "mdev", ...p,
});
const H100_HOST_XML = "nvidia-smi-q-x.h100-pcie-x2-vgpu-host.driver580.v13.xml";

describe("mergeGpuFacts", () => {
  it("H200 VM (one machine: -q, -L and topo -m): MIG profiles and UUIDs from -L, NUMA and CPUs from topo", () => {
    const { gpus, warnings } = mergeGpuFacts({
      report: parseNvidiaSmiText(readGpuSample("nvidia-smi-q.h200-mig-vm.driver570.txt")),
      list: parseNvidiaSmiList(readGpuSample("nvidia-smi-L.h200-mig-vm.driver570.txt")).gpus,
      topology: parseNvidiaSmiTopo(readGpuSample("nvidia-smi-topo-m.h200-mig-vm.driver570.ansi.txt")),
    });
    expect(warnings).toEqual([]);
    expect(gpus).toEqual([{
      pciAddress: "0000:00:05.0",
      uuid: "GPU-8e2b51d7-46ac-4f03-b9e1-c07d2a6f5394",
      model: "NVIDIA H200",
      memoryMib: 143771,
      numaNode: 0,
      virtualizationMode: "passthrough",
      migEnabled: true,
      migDevices: [
        { gpuInstanceId: 1, computeInstanceId: 0, profile: "3g.71gb", memoryMib: 67840, uuid: "MIG-4c1f9a2e-7d35-5b80-a6e3-19d8c02f7b54" },
        { gpuInstanceId: 4, computeInstanceId: 0, profile: "2g.35gb", memoryMib: 33664, uuid: "MIG-5d20ab3f-8e46-5c91-b7f4-2ae9d1308c65" },
        { gpuInstanceId: 11, computeInstanceId: 0, profile: "1g.18gb", memoryMib: 16768, uuid: "MIG-6e31bc40-9f57-5da2-88a5-3bfae2419d76" },
        { gpuInstanceId: 12, computeInstanceId: 0, profile: "1g.18gb", memoryMib: 16768, uuid: "MIG-7f42cd51-a068-5eb3-99b6-4c0bf352ae87" },
      ],
      nvlinkPeers: [],
      vgpuTypes: [],
      driverVersion: "570.133.20",
      cpuAffinity: "0-43",
    }]);
  });

  it("A100 MIG without -L keeps MIG devices with empty profiles; without topo -m, NUMA -1 and no CPU affinity", () => {
    const { gpus } = mergeGpuFacts({ report: parseNvidiaSmiXml(readGpuSample("nvidia-smi-q-x.a100-sxm4-40gb-x4-mig.gpu0.driver550.v12.xml")) });
    expect(gpus[0]!.migEnabled).toBe(true);
    expect(gpus[0]!.migDevices.map((m) => [m.gpuInstanceId, m.profile, m.memoryMib])).toEqual([
      [1, "", 19968], [5, "", 9856], [13, "", 4864], [14, "", 4864],
    ]);
    expect(gpus[0]!.numaNode).toBe(-1);
    expect(gpus[0]!.cpuAffinity).toBe("");
  });

  it("maps NVLink peers from topo indexes to PCI addresses (V100 x8 VM: hybrid cube-mesh)", () => {
    const { gpus, warnings } = mergeGpuFacts({
      report: parseNvidiaSmiXml(readGpuSample("nvidia-smi-q-x.v100-sxm2-32gb-x8-vm.driver470.v11.xml")),
      topology: parseNvidiaSmiTopo(readGpuSample("nvidia-smi-topo-m.v100-sxm2-32gb-x8-vm.driver470.txt")),
    });
    expect(warnings).toEqual([]);
    const pci = (i: number) => gpus[i]!.pciAddress;
    expect(pci(0)).toBe("0000:00:16.0");
    expect(gpus.map((g) => g.nvlinkPeers)).toEqual([
      [pci(1), pci(2), pci(3), pci(4)], [pci(0), pci(2), pci(3), pci(5)], [pci(0), pci(1), pci(3), pci(6)], [pci(0), pci(1), pci(2), pci(7)],
      [pci(0), pci(5), pci(6), pci(7)], [pci(1), pci(4), pci(6), pci(7)], [pci(2), pci(4), pci(5), pci(7)], [pci(3), pci(4), pci(5), pci(6)],
    ]);
    expect(gpus.map((g) => [g.numaNode, g.cpuAffinity])).toEqual([
      ...Array(4).fill([0, "0-31"]), ...Array(4).fill([1, "32-63"]),
    ]);
  });

  it("warns about NVLink peers that -q does not list (`-i 0` report of a 4-GPU host, its full topo -m)", () => {
    const { gpus, warnings } = mergeGpuFacts({
      report: parseNvidiaSmiXml(readGpuSample("nvidia-smi-q-x.a100-sxm4-40gb-x4-mig.gpu0.driver550.v12.xml")),
      topology: parseNvidiaSmiTopo(readGpuSample("nvidia-smi-topo-m.a100-sxm4-40gb-x4.driver550.txt")),
    });
    expect(gpus[0]!.nvlinkPeers).toEqual([]);
    expect(gpus[0]!.cpuAffinity).toBe("0-31,64-95");
    expect(gpus[0]!.numaNode).toBe(0);
    expect(warnings).toEqual([1, 2, 3].map((i) => `topo -m: GPU0 has an NVLink to GPU${i}, which nvidia-smi -q does not list`));
  });

  it("uses the sysfs NUMA node when topo -m is missing or says N/A", () => {
    const a10 = parseNvidiaSmiXml(readGpuSample("nvidia-smi-q-x.a10-vm.driver550.v12.xml"));
    const a10Topo = parseNvidiaSmiTopo(readGpuSample("nvidia-smi-topo-m.a10-vm.driver550.txt"));
    expect(mergeGpuFacts({ report: a10, topology: a10Topo, sysfsNumaNodes: { "0000:00:1e.0": 0 } }).gpus[0]!.numaNode).toBe(0);
    expect(mergeGpuFacts({ report: a10, topology: a10Topo }).gpus[0]!.numaNode).toBe(-1);
    const report = parseNvidiaSmiXml(readGpuSample(H100_HOST_XML));
    const { gpus } = mergeGpuFacts({ report, sysfsNumaNodes: { "0000:2a:00.0": 0, "0000:ab:00.0": -1 } });
    expect(gpus.map((g) => g.numaNode)).toEqual([0, -1]);
  });

  it("attaches vGPU types by physical GPU, summing instances over its VFs", () => {
    const report = parseNvidiaSmiXml(readGpuSample(H100_HOST_XML));
    const { gpus } = mergeGpuFacts({
      report,
      sysfsVgpuTypes: [
        sysfsType({ parentPci: "0000:2a:00.4", gpuPci: "0000:2a:00.0", typeId: "nvidia-942", name: "NVIDIA H100-10C", maxInstances: 1, framebufferMib: 10240 }),
        sysfsType({ parentPci: "0000:2a:00.5", gpuPci: "0000:2a:00.0", typeId: "nvidia-942", name: "NVIDIA H100-10C", maxInstances: 1, framebufferMib: 10240 }),
        sysfsType({ parentPci: "0000:2a:00.5", gpuPci: "0000:2a:00.0", typeId: "nvidia-946", name: "NVIDIA H100-80C", availableInstances: 0 }),
      ],
    });
    expect(gpus[0]!.vgpuTypes).toEqual([
      { typeId: "nvidia-942", name: "NVIDIA H100-10C", availableInstances: 2, maxInstances: 2, framebufferMib: 10240, description: "" },
      { typeId: "nvidia-946", name: "NVIDIA H100-80C", availableInstances: 0, maxInstances: 0, framebufferMib: 0, description: "" },
    ]);
    expect(gpus[1]!.vgpuTypes).toEqual([]);
  });
});

describe("vgpuTypesOfGpu", () => {
  it("enriches creatable types with nvidia-smi vgpu -s limits and adds supported ones with 0 available", () => {
    const supported = parseNvidiaSmiVgpuTypes(readGpuSample("nvidia-smi-vgpu-s-v.h100-pcie-x2-vgpu-host.driver580.txt")).gpus;
    const types = vgpuTypesOfGpu("0000:2a:00.0", [
      sysfsType({ parentPci: "0000:2a:00.5", gpuPci: "0000:2a:00.0", typeId: "nvidia-942", name: "NVIDIA H100-10C", framework: "vfio" }),
      sysfsType({ parentPci: "0000:2a:00.6", gpuPci: "0000:2a:00.0", typeId: "nvidia-942", name: "NVIDIA H100-10C", framework: "vfio" }),
    ], supported);
    expect(types.map((t) => [t.typeId, t.name, t.availableInstances, t.maxInstances, t.framebufferMib])).toEqual([
      ["nvidia-929", "NVIDIA H100-1-10C", 0, 7, 10240],
      ["nvidia-932", "NVIDIA H100-3-40C", 0, 2, 40960],
      ["nvidia-939", "NVIDIA H100-4C", 0, 20, 4096],
      ["nvidia-942", "NVIDIA H100-10C", 2, 8, 10240],
      ["nvidia-945", "NVIDIA H100-40C", 0, 2, 40960],
      ["nvidia-946", "NVIDIA H100-80C", 0, 1, 81920],
    ]);
  });
});
