import { describe, expect, it } from "vitest";
import type { Gpu } from "#shared/protocol.js";
import { mergeGpuFacts } from "./gpu-facts.merge.js";
import { gpuGroupName, groupGpus } from "./gpu-groups.js";
import { parseNvidiaSmiXml } from "./nvidia-smi-xml.parser.js";
import { readGpuSample } from "./test-fixtures.js";

const gpusOf = (sample: string): Gpu[] => mergeGpuFacts({ report: parseNvidiaSmiXml(readGpuSample(sample)) }).gpus;

describe("groupGpus", () => {
  it("puts the 8 identical V100s of a host in one CloudStack-style group", () => {
    const groups = groupGpus(gpusOf("nvidia-smi-q-x.v100-sxm2-32gb-x8-vm.driver470.v11.xml"));
    expect(groups).toHaveLength(1);
    expect(groups[0]!.name).toBe("Group of NVIDIA Corporation Tesla V100-SXM2-32GB GPUs");
    expect(groups[0]!.memoryMib).toBe(32510);
    expect(groups[0]!.devices.map((d) => d.pciAddress)).toEqual([
      "0000:00:16.0", "0000:00:17.0", "0000:00:18.0", "0000:00:19.0", "0000:00:1a.0", "0000:00:1b.0", "0000:00:1c.0", "0000:00:1d.0",
    ]);
    expect(groups[0]!.vgpuTypes).toEqual([]);
  });

  it("separates different models, keeping first-appearance order", () => {
    const gpus = [
      ...gpusOf("nvidia-smi-q-x.h100-pcie-x2-vgpu-host.driver580.v13.xml"),
      ...gpusOf("nvidia-smi-q-x.a10-vm.driver550.v12.xml"),
      ...gpusOf("nvidia-smi-q-x.a100-sxm4-40gb-x4-mig.gpu0.driver550.v12.xml"),
    ];
    expect(groupGpus(gpus).map((g) => [g.name, g.devices.length])).toEqual([
      ["Group of NVIDIA Corporation H100 PCIe GPUs", 2],
      ["Group of NVIDIA Corporation A10 GPUs", 1],
      ["Group of NVIDIA Corporation A100-SXM4-40GB GPUs", 1],
    ]);
  });

  it("sums the vGPU instances that can still be created across the group", () => {
    const [a, b] = gpusOf("nvidia-smi-q-x.h100-pcie-x2-vgpu-host.driver580.v13.xml") as [Gpu, Gpu];
    a.vgpuTypes = [
      { typeId: "nvidia-942", name: "NVIDIA H100-10C", availableInstances: 2, maxInstances: 8, framebufferMib: 10240, description: "" },
      { typeId: "nvidia-946", name: "NVIDIA H100-80C", availableInstances: 0, maxInstances: 1, framebufferMib: 81920, description: "" },
    ];
    b.vgpuTypes = [{ typeId: "nvidia-942", name: "NVIDIA H100-10C", availableInstances: 8, maxInstances: 8, framebufferMib: 10240, description: "" }];
    const [group] = groupGpus([a, b]);
    expect(group!.vgpuTypes).toEqual([
      { typeId: "nvidia-942", name: "NVIDIA H100-10C", framebufferMib: 10240, maxInstancesPerGpu: 8, maxInstances: 16, remainingInstances: 10, gpuCount: 2 },
      { typeId: "nvidia-946", name: "NVIDIA H100-80C", framebufferMib: 81920, maxInstancesPerGpu: 1, maxInstances: 1, remainingInstances: 0, gpuCount: 1 },
    ]);
  });

  it("names groups of unnamed models and returns nothing for no GPUs", () => {
    expect(gpuGroupName("")).toBe("Group of NVIDIA Corporation unknown model GPUs");
    expect(gpuGroupName("Graphics Device")).toBe("Group of NVIDIA Corporation Graphics Device GPUs");
    expect(groupGpus([])).toEqual([]);
  });
});
