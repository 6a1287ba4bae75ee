import { describe, expect, it } from "vitest";
import type { GpuWorkloadShape } from "../types.js";
import { expectedFragmentationMilli, leastFragmentingChoice } from "./gpu-fragmentation.measure.js";
import { compileGpuWorkload } from "./gpu-workload-mix.js";

const shape = (gpuCount: number, gpuMilli: number, vcpus = 4, memoryMib = 1024, models?: string[]): GpuWorkloadShape => ({
  vcpus, memoryMib, gpuCount, gpuMilli, weight: 1, ...(models && { models }),
});

describe("expected fragmentation", () => {
  it("counts share leftovers no copy of a task can use", () => {
    const mix = compileGpuWorkload([shape(1, 470)]);
    // 1000 free holds two 470s (60 left); 530 holds one (60 left); 400 holds none.
    expect(expectedFragmentationMilli(100, 1e6, [1000], "T4", mix)).toBeCloseTo(60);
    expect(expectedFragmentationMilli(100, 1e6, [530, 400], "T4", mix)).toBeCloseTo(60 + 400);
  });

  it("counts GPUs stranded by missing CPU or memory", () => {
    const mix = compileGpuWorkload([shape(1, 1000, 10, 100)]);
    expect(expectedFragmentationMilli(40, 1000, [1000, 1000], "G2", mix)).toBe(0);
    expect(expectedFragmentationMilli(15, 1000, [1000, 1000], "G2", mix)).toBe(1000); // CPU for one copy
    expect(expectedFragmentationMilli(40, 50, [1000, 1000], "G2", mix)).toBe(2000); // no memory
  });

  it("ignores CPU and memory for shapes that need none", () => {
    const mix = compileGpuWorkload([shape(2, 1000, 0, 0)]);
    expect(expectedFragmentationMilli(0, 0, [1000, 1000, 1000], "G2", mix)).toBe(1000); // an odd GPU out
  });

  it("ignores shapes restricted to other models", () => {
    const mix = compileGpuWorkload([shape(1, 1000, 4, 1024, ["A100"])]);
    expect(expectedFragmentationMilli(100, 1e6, [500], "T4", mix)).toBe(0);
  });
});

describe("least fragmenting choice", () => {
  const mix = compileGpuWorkload([shape(1, 1000), shape(1, 500)]);
  const host = (free: number[]) => ({ cpuFree: 1000, memoryFreeMib: 1e6, gpuFreeMilli: free, model: "T4" });

  it("puts a share on a partly used GPU rather than breaking a whole one", () => {
    const c = leastFragmentingChoice(host([1000, 500, 1000]), { cpu: 4, memoryMib: 1024, count: 1, milli: 500 }, mix)!;
    expect(c.gpus).toEqual([1]);
  });

  it("takes fully free GPUs for whole-GPU needs and refuses when there are too few", () => {
    expect(leastFragmentingChoice(host([500, 1000, 1000]), { cpu: 4, memoryMib: 0, count: 2, milli: 1000 }, mix)!.gpus).toEqual([1, 2]);
    expect(leastFragmentingChoice(host([500, 1000]), { cpu: 4, memoryMib: 0, count: 2, milli: 1000 }, mix)).toBeNull();
  });

  it("charges a CPU-only VM for the GPUs its CPU strands", () => {
    const cpuMix = compileGpuWorkload([shape(1, 1000, 8, 0)]);
    const tight = leastFragmentingChoice({ cpuFree: 24, memoryFreeMib: 1e6, gpuFreeMilli: [1000, 1000, 1000, 1000], model: "T4" }, { cpu: 8, memoryMib: 0, count: 0, milli: 0 }, cpuMix)!;
    const roomy = leastFragmentingChoice({ cpuFree: 64, memoryFreeMib: 1e6, gpuFreeMilli: [1000, 1000, 1000, 1000], model: "T4" }, { cpu: 8, memoryMib: 0, count: 0, milli: 0 }, cpuMix)!;
    expect(tight.usableLoss).toBe(1000); // 3 copies fit before, 2 after
    expect(roomy.usableLoss).toBe(0);
  });
});
