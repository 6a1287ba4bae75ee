import { describe, expect, it } from "vitest";
import type { Gpu } from "#shared/protocol.js";
import { mergeGpuFacts } from "./gpu-facts.merge.js";
import { gpuGroupName, groupGpus } from "./gpu-groups.js";
import { parseNvidiaSmiXml } from "./nvidia-smi-xml.parser.js";
import { readGpuFixture } from "./test-fixtures.js";

const gpusOf = (fixture: string): Gpu[] => mergeGpuFacts({ report: parseNvidiaSmiXml(readGpuFixture(fixture)) }).gpus;

describe("groupGpus", () => {
  it("puts the 8 identical V100S of a host in one CloudStack-style group", () => {
    const groups = groupGpus(gpusOf("nvidia-smi-q-x.v100s-pcie-32gb-x8-passthrough.driver460.v11.xml"));
    expect(groups).toHaveLength(1);
    expect(groups[0]!.name).toBe("Group of NVIDIA Corporation Tesla V100S-PCIE-32GB GPUs");
    expect(groups[0]!.memoryMib).toBe(32510);
    expect(groups[0]!.devices.map((d) => d.pciAddress)).toEqual([
      "0000:00:0d.0", "0000:00:0e.0", "0000:00:0f.0", "0000:00:10.0", "0000:00:11.0", "0000:00:12.0", "0000:00:13.0", "0000:00:14.0",
    ]);
    expect(groups[0]!.vgpuTypes).toEqual([]);
  });

  it("separates different models, keeping first-appearance order", () => {
    const gpus = [
      ...gpusOf("nvidia-smi-q-x.rtx-a5000-x2.driver590.v13.xml"),
      ...gpusOf("nvidia-smi-q-x.tesla-t4-passthrough.driver515.v11.xml"),
      ...gpusOf("nvidia-smi-q-x.a100-sxm4-80gb-mig.driver535.v12.xml"),
    ];
    expect(groupGpus(gpus).map((g) => [g.name, g.devices.length])).toEqual([
      ["Group of NVIDIA Corporation RTX A5000 GPUs", 2],
      ["Group of NVIDIA Corporation Tesla T4 GPUs", 1],
      ["Group of NVIDIA Corporation A100-SXM4-80GB GPUs", 1],
    ]);
  });

  it("sums the vGPU instances that can still be created across the group", () => {
    const [a, b] = gpusOf("nvidia-smi-q-x.rtx-a5000-x2.driver590.v13.xml") as [Gpu, Gpu];
    a.vgpuTypes = [
      { typeId: "nvidia-657", name: "NVIDIA RTXA5000-4Q", availableInstances: 6, maxInstances: 6, framebufferMib: 4096, description: "" },
      { typeId: "nvidia-660", name: "NVIDIA RTXA5000-24Q", availableInstances: 0, maxInstances: 1, framebufferMib: 24576, description: "" },
    ];
    b.vgpuTypes = [{ typeId: "nvidia-657", name: "NVIDIA RTXA5000-4Q", availableInstances: 2, maxInstances: 6, framebufferMib: 4096, description: "" }];
    const [group] = groupGpus([a, b]);
    expect(group!.vgpuTypes).toEqual([
      { typeId: "nvidia-657", name: "NVIDIA RTXA5000-4Q", framebufferMib: 4096, maxInstancesPerGpu: 6, maxInstances: 12, remainingInstances: 8, gpuCount: 2 },
      { typeId: "nvidia-660", name: "NVIDIA RTXA5000-24Q", framebufferMib: 24576, maxInstancesPerGpu: 1, maxInstances: 1, remainingInstances: 0, gpuCount: 1 },
    ]);
  });

  it("names groups of unnamed models and returns nothing for no GPUs", () => {
    expect(gpuGroupName("")).toBe("Group of NVIDIA Corporation unknown model GPUs");
    expect(gpuGroupName("Graphics Device")).toBe("Group of NVIDIA Corporation Graphics Device GPUs");
    expect(groupGpus([])).toEqual([]);
  });
});
