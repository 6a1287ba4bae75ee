import { describe, expect, it } from "vitest";
import { compileGpuWorkload, PRIOR_GPU_WORKLOAD } from "../gpu/gpu-workload-mix.js";
import { buildPolicy } from "../policy.js";
import { DEFAULT_SCORER_WEIGHTS, scorerWeightsWithout } from "../policy-config.js";
import { seededRandom } from "../prng.js";
import { cpuHost, fleet, gpuHost, placeStream, vmRequest } from "../testing/fleet-builder.js";
import { checkBound, contextFor, runScorer } from "../testing/plugin-harness.js";
import type { GpuWorkloadShape, PlacementRequest } from "../types.js";
import { GpuResourceBalanceScorer, gpusShortOfResources, perGpuNeed } from "./gpu-resource-balance.scorer.js";

const GiB = 1024;
const shape = (gpuCount: number, vcpus: number, memoryMib = 0, weight = 1, models?: string[]): GpuWorkloadShape => ({
  vcpus, memoryMib, gpuCount, gpuMilli: 1000, weight, ...(models && { models }),
});
/** 1-GPU VMs with 16, 24 or 32 vCPUs, equally common: 24 vCPUs per GPU, an HGX host's 192 / 8. */
const HGX_MIX = [shape(1, 16), shape(1, 24), shape(1, 32)];
const oneGpu = (vcpus: number) => vmRequest({ vcpus, memoryMib: GiB, gpu: { kind: "passthrough", count: 1 } });
const firstUsed = (n: number) => (i: number) => (i < n ? { kind: "passthrough" as const } : { kind: "free" as const });
/** An HGX host with `freeGpus` free GPUs and `freeCpus` free vCPUs. */
const hgx = (id: string, freeGpus: number, freeCpus: number) =>
  gpuHost(id, { cpu: { total: 192, allocated: 192 - freeCpus }, gpuUse: firstUsed(8 - freeGpus) });

describe("perGpuNeed", () => {
  it("is the workload's CPU and memory per GPU, each shape weighted by popularity and counted per GPU", () => {
    const mix = compileGpuWorkload([shape(1, 16, 64 * GiB, 3), shape(2, 64, 512 * GiB, 1), shape(1, 8, 0, 1, ["L40S"])]);
    const need = perGpuNeed(mix, "H100 80GB")!;
    // (3 x 16 + 64) vCPUs over (3 x 1 + 2) GPUs; the L40S shape does not count for H100.
    expect(need.cpu).toBeCloseTo(112 / 5);
    expect(need.memoryMib).toBeCloseTo((3 * 64 + 512) * GiB / 5);
    expect(perGpuNeed(mix, "L40S")!.cpu).toBeCloseTo((48 + 64 + 8) / 6);
  });

  it("counts a share as its part of a GPU", () => {
    const mix = compileGpuWorkload([{ vcpus: 4, memoryMib: 0, gpuCount: 1, gpuMilli: 250, weight: 1 }]);
    expect(perGpuNeed(mix, "L40S")!.cpu).toBeCloseTo(16);
  });

  it("is null when the workload names no CPU or memory (the generic prior)", () => {
    expect(perGpuNeed(compileGpuWorkload(PRIOR_GPU_WORKLOAD), "H100 80GB")).toBeNull();
  });
});

describe("gpusShortOfResources", () => {
  const need = { cpu: 24, memoryMib: 256 * GiB };
  it.each([
    [4, 96, 1024, 0], // exactly enough CPU, memory to spare
    [4, 200, 1024, 0],
    [4, 72, 1024, 1], // 72 vCPUs serve 3 GPUs
    [4, 96, 512, 2], // memory is the tighter: 512 GiB serves 2
    [2, -8, 1024, 2], // over-committed CPU counts as none
    [0, 0, 0, 0],
  ])("%d free GPUs, %d vCPUs, %d GiB: %d short", (gpus, cpus, memGiB, short) => {
    expect(gpusShortOfResources(gpus, cpus, memGiB * GiB, need)).toBeCloseTo(short);
  });
});

describe("GpuResourceBalanceScorer", () => {
  const scorer = new GpuResourceBalanceScorer();
  const hosts = () => [cpuHost("cpu"), hgx("short", 4, 72), hgx("even", 4, 96), hgx("spare", 4, 160), hgx("taken", 0, 40)];

  it("sends a VM asking more CPU per GPU than the workload's mean where CPU is to spare", () => {
    const s = runScorer(scorer, fleet(hosts(), [], HGX_MIX), oneGpu(32))!;
    expect(s["spare"]).toBeCloseTo(0.5); // no shortfall before or after
    expect(s["even"]).toBeLessThan(0.5); // 3 GPUs left with 64 vCPUs: a third of a GPU short
    expect(s["even"]).toBeCloseTo(s["short"]!); // a third of a GPU more short there too
  });

  it("sends a VM asking less CPU per GPU than the mean where CPU is short, restoring balance", () => {
    const s = runScorer(scorer, fleet(hosts(), [], HGX_MIX), oneGpu(16))!;
    expect(s["short"]).toBeGreaterThan(0.5); // 1 GPU short before, 2/3 after
    expect(s["even"]).toBeCloseTo(0.5);
    expect(s["spare"]).toBeCloseTo(0.5);
    expect(s["short"]).toBeCloseTo(1 / (1 + Math.exp(2 * (2 / 3 - 1))));
  });

  it("sends a CPU-only VM where its CPU strands no GPU", () => {
    const s = runScorer(scorer, fleet(hosts(), [], HGX_MIX), vmRequest({ vcpus: 24 }))!;
    expect(s["cpu"]).toBe(0.5);
    expect(s["taken"]).toBe(0.5); // no free GPU to strand
    expect(s["spare"]).toBe(0.5); // 136 vCPUs left still serve the 4 GPUs
    expect(s["even"]).toBeCloseTo(1 / (1 + Math.exp(2))); // one GPU's CPU gone
  });

  it("scores every host alike without CPU or memory in the workload", () => {
    const ctx = contextFor(fleet(hosts()), oneGpu(32)); // the generic prior
    expect(scorer.prepare(ctx)).toBeNull();
    expect(scorer.refine(ctx)).toBeNull();
  });

  it("ranks by a bound: the exact score is never above it", () => {
    const rnd = seededRandom(11);
    const workload = [shape(1, 16, 128 * GiB), shape(2, 64, 384 * GiB), shape(8, 192, 1900 * GiB), { vcpus: 4, memoryMib: 32 * GiB, gpuCount: 1, gpuMilli: 500, weight: 1 }];
    const fleetHosts = Array.from({ length: 40 }, (_, i) => gpuHost(`h${i}`, {
      cpu: { total: 192, allocated: Math.floor(rnd() * 192) },
      memory: { totalMib: 2048 * GiB, reservedMib: 0, allocatedMib: Math.floor(rnd() * 2048 * GiB) },
      gpuUse: () => (rnd() < 0.4 ? { kind: "passthrough" } : rnd() < 0.3 ? { kind: "share", milliUsed: 500 } : { kind: "free" }),
    }));
    const snap = fleet([cpuHost("cpu"), ...fleetHosts], [], workload);
    const requests: PlacementRequest[] = [
      vmRequest({ vcpus: 8, memoryMib: 16 * GiB }),
      vmRequest({ vcpus: 32, memoryMib: 128 * GiB, gpu: { kind: "passthrough", count: 1 } }),
      vmRequest({ vcpus: 48, memoryMib: 512 * GiB, gpu: { kind: "passthrough", count: 2 } }),
      vmRequest({ vcpus: 4, memoryMib: 8 * GiB, gpu: { kind: "share", milli: 500 } }),
      vmRequest({ vcpus: 8, memoryMib: 8 * GiB, gpu: { kind: "vgpu", vgpuType: "x" } }),
    ];
    const check = checkBound(scorer, snap, requests);
    expect(check.violations).toEqual([]);
    expect(check.below).toBeGreaterThan(20); // the request's own CPU and memory matter on many hosts
  });

  it("in the default policy, pairs CPU-heavy and CPU-light GPU VMs so that no GPU is stranded", () => {
    // Two hosts with 4 free GPUs each, one with 96 free vCPUs and one with 72: the stream's 8 VMs ask
    // 160 vCPUs in all and fit only if the 16-vCPU ones fill the host with 72. Fragmentation alone sees
    // no difference at the first 16-vCPU VM.
    const snap = fleet([hgx("a", 4, 96), hgx("b", 4, 72)], [], HGX_MIX);
    const stream = [24, 16, 24, 16, 16, 24, 16, 24].map(oneGpu);
    const noThreshold = { cpuDisableThreshold: 1, memoryDisableThreshold: 1 }; // a 2-host cluster passes 85% here
    const withBalance = placeStream(snap, stream, buildPolicy(noThreshold), 1, true);
    expect(withBalance.results.every((r) => r.ok)).toBe(true);
    const withoutWeights = scorerWeightsWithout(DEFAULT_SCORER_WEIGHTS, "gpu-resource-balance");
    const without = placeStream(snap, stream, buildPolicy({ ...noThreshold, scorers: withoutWeights }), 1, true);
    expect(without.results.filter((r) => r.ok)).toHaveLength(7); // a GPU left on a host with 16 vCPUs
  });
});
