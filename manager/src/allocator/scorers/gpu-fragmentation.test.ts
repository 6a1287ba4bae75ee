import { describe, expect, it } from "vitest";
import { buildPolicy } from "../policy.js";
import { fleet, gpuHost, placeStream, vmRequest } from "../testing/fleet-builder.js";
import { runScorer } from "../testing/plugin-harness.js";
import { expectedFragmentationMilli, leastFragmentingChoice } from "./gpu-fragmentation.measure.js";
import { GpuFragmentationScorer } from "./gpu-fragmentation.scorer.js";
import { GpuWorkloadMix, type GpuTaskShape } from "./gpu-fragmentation.workload.js";

const shape = (gpuCount: number, gpuMilli: number, cpuMilli = 4, memoryMib = 1024): GpuTaskShape => ({
  cpuMilli, memoryMib, gpuCount, gpuMilli, models: [],
});

function mixOf(...shapes: [GpuTaskShape, number][]) {
  const mix = new GpuWorkloadMix({ refreshShare: 0 });
  for (const [s, n] of shapes) mix.observe(s, n);
  return mix.view();
}

describe("GpuWorkloadMix", () => {
  it("normalises weights, groups shapes by GPU need and ignores CPU-only requests", () => {
    const mix = new GpuWorkloadMix({ refreshShare: 0 });
    mix.observe(shape(1, 1000, 8), 3);
    mix.observe(shape(1, 1000, 4), 1);
    mix.observe(shape(1, 500), 4);
    mix.observe(shape(0, 0), 100);
    const groups = mix.view().groups;
    expect(groups).toHaveLength(2);
    const whole = groups.find((g) => g.gpuMilli === 1000)!;
    expect(whole.totalWeight).toBeCloseTo(0.5);
    expect([...whole.cpuMilli]).toEqual([4, 8]); // sorted by CPU
    expect([...whole.weight].map((w) => +w.toFixed(3))).toEqual([0.125, 0.375]);
  });

  it("forgets old requests with the half-life", () => {
    const mix = new GpuWorkloadMix({ halfLifeRequests: 10, refreshShare: 0 });
    mix.observe(shape(1, 500), 10);
    mix.observe(shape(8, 1000), 10);
    const g = mix.view().groups;
    // The older ten weigh half as much as the newer ten.
    expect(g.find((x) => x.gpuCount === 8)!.totalWeight).toBeCloseTo(2 / 3, 2);
  });

  it("publishes a new view (epoch) only as the mix grows", () => {
    const mix = new GpuWorkloadMix({ refreshShare: 1 });
    mix.observe(shape(1, 500));
    const e1 = mix.view().epoch;
    mix.observe(shape(1, 500)); // doubles the weight: new view
    const e2 = mix.view().epoch;
    mix.observe(shape(1, 500)); // +50%: same view
    expect(e2).not.toBe(e1);
    expect(mix.view().epoch).toBe(e2);
  });
});

describe("expected fragmentation", () => {
  it("counts share leftovers no copy of a task can use", () => {
    const mix = mixOf([shape(1, 470), 1]);
    // 1000 free holds two 470s (60 left); 530 holds one (60 left); 400 holds none.
    expect(expectedFragmentationMilli(100, 1e6, [1000], "T4", mix)).toBeCloseTo(60);
    expect(expectedFragmentationMilli(100, 1e6, [530, 400], "T4", mix)).toBeCloseTo(60 + 400);
  });

  it("counts GPUs stranded by missing CPU or memory", () => {
    const mix = mixOf([shape(1, 1000, 10, 100), 1]);
    expect(expectedFragmentationMilli(40, 1000, [1000, 1000], "G2", mix)).toBe(0);
    expect(expectedFragmentationMilli(15, 1000, [1000, 1000], "G2", mix)).toBe(1000); // CPU for one copy
    expect(expectedFragmentationMilli(40, 50, [1000, 1000], "G2", mix)).toBe(2000); // no memory
  });

  it("ignores shapes restricted to other models", () => {
    const mix = mixOf([{ ...shape(1, 1000), models: ["A100"] }, 1]);
    expect(expectedFragmentationMilli(100, 1e6, [500], "T4", mix)).toBe(0);
  });
});

describe("least fragmenting choice", () => {
  const mix = mixOf([shape(1, 1000), 1], [shape(1, 500), 1]);
  const host = (free: number[]) => ({ cpuFreeMilli: 1000, memoryFreeMib: 1e6, gpuFreeMilli: free, model: "T4" });

  it("puts a share on a partly used GPU rather than breaking a whole one", () => {
    const c = leastFragmentingChoice(host([1000, 500, 1000]), { cpuMilli: 4, memoryMib: 1024, count: 1, milli: 500 }, mix)!;
    expect(c.gpus).toEqual([1]);
  });

  it("takes fully free GPUs for whole-GPU needs and refuses when there are too few", () => {
    expect(leastFragmentingChoice(host([500, 1000, 1000]), { cpuMilli: 4, memoryMib: 0, count: 2, milli: 1000 }, mix)!.gpus).toEqual([1, 2]);
    expect(leastFragmentingChoice(host([500, 1000]), { cpuMilli: 4, memoryMib: 0, count: 2, milli: 1000 }, mix)).toBeNull();
  });
});

describe("GpuFragmentationScorer", () => {
  const eightGpuTask = vmRequest({ vcpus: 8, gpu: { kind: "passthrough", count: 8 } });
  const oneGpuTask = vmRequest({ vcpus: 8, gpu: { kind: "passthrough", count: 1 } });

  it("scores keeping an empty 8-GPU host intact above breaking it, once 8-GPU tasks have been seen", () => {
    const scorer = new GpuFragmentationScorer({ refreshShare: 0 });
    scorer.staticKey(eightGpuTask);
    scorer.staticKey(oneGpuTask);
    const snap = fleet([gpuHost("empty"), gpuHost("half", { gpuUse: (i) => (i < 4 ? { kind: "passthrough" } : { kind: "free" }) })]);
    const s = runScorer(scorer, snap, oneGpuTask)!;
    expect(s["half"]!).toBeGreaterThan(s["empty"]!);
    expect(s["half"]!).toBeLessThanOrEqual(1);
    expect(s["empty"]!).toBeGreaterThanOrEqual(0);
  });

  it("does not score vGPU requests (vgpu-packing's job) nor before any GPU request was seen", () => {
    const scorer = new GpuFragmentationScorer();
    const snap = fleet([gpuHost("h")]);
    expect(runScorer(scorer, snap, vmRequest())).toBeNull();
    scorer.staticKey(oneGpuTask);
    expect(runScorer(scorer, snap, vmRequest({ gpu: { kind: "vgpu", vgpuType: "x" } }))).toBeNull();
  });

  it("as the policy's GPU scorer, packs shares and keeps a whole host free for an 8-GPU VM", () => {
    const policy = buildPolicy({ algorithm: "firstfit", scorers: { "gpu-fragmentation": 4 } });
    const share = (milli: number) => vmRequest({ vcpus: 2, gpu: { kind: "share", milli } });
    const stream = [eightGpuTask, share(500), share(500), share(300), oneGpuTask, share(200), eightGpuTask];
    // The mix is learned from the stream itself as it is placed.
    const out = placeStream(fleet([gpuHost("a"), gpuHost("b"), gpuHost("c")]), [...stream], policy);
    expect(out.results.every((r) => r.ok)).toBe(true);
    const gpusOf = (i: number) => (out.results[i]!.ok ? (out.results[i] as { ok: true; plan: { placements: { hostName: string; gpus: { gpuId: string }[] }[] } }).plan.placements[0]! : null);
    // The two 500s share one GPU, the 300 and the 200 fill another on the same host.
    expect(gpusOf(1)!.gpus[0]!.gpuId).toBe(gpusOf(2)!.gpus[0]!.gpuId);
    expect(gpusOf(3)!.hostName).toBe(gpusOf(1)!.hostName);
    expect(gpusOf(5)!.gpus[0]!.gpuId).toBe(gpusOf(3)!.gpus[0]!.gpuId);
    expect(gpusOf(4)!.hostName).toBe(gpusOf(1)!.hostName);
  });
});
