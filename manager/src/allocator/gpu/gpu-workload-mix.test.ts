import { describe, expect, it } from "vitest";
import type { GpuWorkloadShape } from "../types.js";
import { compileGpuWorkload, GpuWorkloadLearner } from "./gpu-workload-mix.js";

const shape = (gpuCount: number, gpuMilli: number, weight = 1, vcpus = 4, memoryMib = 1024): GpuWorkloadShape => ({
  vcpus, memoryMib, gpuCount, gpuMilli, weight,
});

describe("compileGpuWorkload", () => {
  it("normalises weights, groups shapes by GPU need and drops CPU-only and invalid shapes", () => {
    const mix = compileGpuWorkload([shape(1, 1000, 3, 8), shape(1, 1000, 1, 4), shape(1, 500, 4), shape(0, 0, 100), shape(1, 1200, 5), shape(2, 1000, 0)]);
    expect(mix.groups).toHaveLength(2);
    const whole = mix.groups.find((g) => g.gpuMilli === 1000)!;
    expect(whole.totalWeight).toBeCloseTo(0.5);
    expect([...whole.cpu]).toEqual([4, 8]); // sorted by CPU
    expect([...whole.weight].map((w) => +w.toFixed(3))).toEqual([0.125, 0.375]);
    expect(whole.gpuOnly).toBe(false);
  });

  it("keeps the most popular shapes covering the requested share of the weight", () => {
    const mix = compileGpuWorkload([shape(1, 1000, 90), shape(2, 1000, 9), shape(4, 1000, 1)], 0.95);
    expect(mix.groups.map((g) => g.gpuCount).sort()).toEqual([1, 2]);
    expect(mix.groups.reduce((s, g) => s + g.totalWeight, 0)).toBeCloseTo(1);
  });

  it("marks groups that need no CPU or memory, and gives each compiled mix its own epoch", () => {
    const a = compileGpuWorkload([shape(8, 1000, 1, 0, 0)]);
    const b = compileGpuWorkload([shape(8, 1000, 1, 0, 0)]);
    expect(a.groups[0]!.gpuOnly).toBe(true);
    expect(a.epoch).not.toBe(b.epoch);
  });
});

describe("GpuWorkloadLearner", () => {
  it("forgets old requests with the half-life", () => {
    const learner = new GpuWorkloadLearner({ halfLifeRequests: 10 });
    learner.observe(shape(1, 500), 10);
    learner.observe(shape(8, 1000), 10);
    const groups = compileGpuWorkload(learner.take()).groups;
    // The older ten weigh half as much as the newer ten.
    expect(groups.find((x) => x.gpuCount === 8)!.totalWeight).toBeCloseTo(2 / 3, 2);
  });

  it("says a new mix is due only as the observed weight doubles, and ignores CPU-only requests", () => {
    const learner = new GpuWorkloadLearner({ refreshShare: 1 });
    learner.observe(shape(1, 500));
    expect(learner.refreshDue).toBe(true);
    expect(learner.take()).toHaveLength(1);
    expect(learner.refreshDue).toBe(false);
    learner.observe(shape(0, 0), 50);
    expect(learner.refreshDue).toBe(false);
    learner.observe(shape(1, 500)); // doubles the weight
    expect(learner.refreshDue).toBe(true);
    learner.take();
    learner.observe(shape(1, 500)); // +50%
    expect(learner.refreshDue).toBe(false);
  });
});
