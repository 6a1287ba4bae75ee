import { describe, expect, it } from "vitest";
import { seededRandom } from "../prng.js";
import { buildPolicy } from "../policy.js";
import { cpuHost, fleet, gpuHost, placeStream, vmRequest } from "../testing/fleet-builder.js";
import { checkBound, contextFor, runScorer } from "../testing/plugin-harness.js";
import type { GpuWorkloadShape, PlacementRequest } from "../types.js";
import { GpuFragmentationScorer } from "./gpu-fragmentation.scorer.js";

const shape = (gpuCount: number, gpuMilli: number, vcpus = 8, memoryMib = 0, weight = 1): GpuWorkloadShape => ({
  vcpus, memoryMib, gpuCount, gpuMilli, weight,
});
const eightGpuTask = vmRequest({ vcpus: 8, gpu: { kind: "passthrough", count: 8 } });
const oneGpuTask = vmRequest({ vcpus: 8, gpu: { kind: "passthrough", count: 1 } });
const halfUsed = (i: number) => (i < 4 ? { kind: "passthrough" as const } : { kind: "free" as const });

describe("GpuFragmentationScorer", () => {
  const scorer = new GpuFragmentationScorer();

  it("keeps an empty 8-GPU host intact when the fleet's workload has 8-GPU VMs", () => {
    const snap = fleet([gpuHost("empty"), gpuHost("half", { gpuUse: halfUsed })], [], [shape(8, 1000), shape(1, 1000)]);
    const s = runScorer(scorer, snap, oneGpuTask)!;
    expect(s["half"]!).toBeGreaterThan(s["empty"]!);
    expect(s["half"]!).toBeLessThanOrEqual(1);
    expect(s["empty"]!).toBeGreaterThan(0);
  });

  it("uses a generic prior (1 to 8 whole GPUs, shares) when the snapshot states no workload", () => {
    const s = runScorer(scorer, fleet([gpuHost("empty"), gpuHost("half", { gpuUse: halfUsed })]), oneGpuTask)!;
    expect(s["half"]!).toBeGreaterThan(s["empty"]!);
  });

  it("follows the workload: with only 1-GPU VMs, breaking an empty host costs no more than filling a used one", () => {
    const snap = fleet([gpuHost("empty"), gpuHost("half", { gpuUse: halfUsed })], [], [shape(1, 1000)]);
    const s = runScorer(scorer, snap, oneGpuTask)!;
    expect(s["half"]).toBe(s["empty"]);
  });

  it("does not score vGPU requests (vgpu-packing's job)", () => {
    const ctx = contextFor(fleet([gpuHost("h")]), vmRequest({ gpu: { kind: "vgpu", vgpuType: "x" } }));
    expect(scorer.prepare(ctx)).toBeNull();
    expect(scorer.refine(ctx)).toBeNull();
  });

  it("scores a CPU-only VM by the GPUs its CPU would strand on GPU hosts", () => {
    const snap = fleet([
      cpuHost("cpu"),
      gpuHost("tight", { cpu: { total: 192, allocated: 160 } }), // 32 vCPUs left: 4 x (1 GPU + 8 vCPUs)
      gpuHost("roomy", { cpu: { total: 192, allocated: 64 } }),
    ], [], [shape(1, 1000, 8)]);
    const cpuVm = vmRequest({ vcpus: 8 });
    const ctx = contextFor(snap, cpuVm);
    expect(scorer.prepare(ctx)).toBeNull(); // the ranking bound: 1 everywhere
    const s = runScorer(scorer, snap, cpuVm)!;
    expect(s["cpu"]).toBe(1);
    expect(s["roomy"]).toBe(1);
    expect(s["tight"]).toBeCloseTo(0.5); // one GPU's worth stranded
    // A workload that needs no CPU or memory: nothing to refine.
    expect(scorer.refine(contextFor(fleet(snap.hosts as never, [], [shape(1, 1000, 0)]), cpuVm))).toBeNull();
  });

  it("ranks by a bound: the exact score is never above it", () => {
    const rnd = seededRandom(5);
    const workload = [shape(1, 1000, 16, 65536), shape(2, 1000, 32, 131072), shape(8, 1000, 96, 1 << 20), shape(1, 500, 8, 32768), shape(1, 250, 4, 16384)];
    const hosts = Array.from({ length: 40 }, (_, i) => gpuHost(`h${i}`, {
      cpu: { total: 192, allocated: Math.floor(rnd() * 190) },
      memory: { totalMib: 2 << 20, reservedMib: 0, allocatedMib: Math.floor(rnd() * (2 << 20)) },
      gpuUse: () => (rnd() < 0.3 ? { kind: "passthrough" } : rnd() < 0.5 ? { kind: "share", milliUsed: 100 * Math.floor(rnd() * 9) } : { kind: "free" }),
    }));
    const snap = fleet(hosts, [], workload);
    const requests: PlacementRequest[] = [
      vmRequest({ vcpus: 4, memoryMib: 8192 }),
      vmRequest({ vcpus: 16, memoryMib: 65536, gpu: { kind: "passthrough", count: 1 } }),
      vmRequest({ vcpus: 32, memoryMib: 4096, gpu: { kind: "passthrough", count: 2 } }),
      vmRequest({ vcpus: 2, memoryMib: 1024, gpu: { kind: "share", milli: 300 } }),
    ];
    const check = checkBound(scorer, snap, requests);
    expect(check.violations).toEqual([]);
    expect(check.below).toBeGreaterThan(10); // the request's CPU and memory do matter on some hosts
  });

  it("as the policy's GPU scorer, packs shares and keeps a whole host free for an 8-GPU VM", () => {
    const policy = buildPolicy({ algorithm: "firstfit", scorers: { "gpu-fragmentation": 4 } });
    const share = (milli: number) => vmRequest({ vcpus: 2, gpu: { kind: "share", milli } });
    const stream = [eightGpuTask, share(500), share(500), share(300), oneGpuTask, share(200), eightGpuTask];
    const workload = [shape(8, 1000, 8, 0, 2), shape(1, 1000, 8), shape(1, 500, 2, 0, 2), shape(1, 300, 2), shape(1, 200, 2)];
    const out = placeStream(fleet([gpuHost("a"), gpuHost("b"), gpuHost("c")], [], workload), [...stream], policy);
    expect(out.results.every((r) => r.ok)).toBe(true);
    const placement = (i: number) => (out.results[i] as { ok: true; plan: { placements: { hostName: string; gpus: { gpuId: string }[] }[] } }).plan.placements[0]!;
    // The two 500s share one GPU, the 300 and the 200 fill another on the same host, the 1-GPU VM joins them.
    expect(placement(1).gpus[0]!.gpuId).toBe(placement(2).gpus[0]!.gpuId);
    expect(placement(3).hostName).toBe(placement(1).hostName);
    expect(placement(5).gpus[0]!.gpuId).toBe(placement(3).gpus[0]!.gpuId);
    expect(placement(4).hostName).toBe(placement(1).hostName);
    expect(placement(6).hostName).not.toBe(placement(1).hostName);
  });
});
