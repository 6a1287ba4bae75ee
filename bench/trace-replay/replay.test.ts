import { describe, expect, it } from "vitest";
import { arrivalSequence } from "./arrival-sequence.js";
import { meanSd, replay, unallocatedPctAt, type PodPlacer } from "./replay.js";
import { podGpuDemandMilli, type TracePod } from "./trace-csv.js";
import { traceSnapshot } from "./trace-mapping.js";
import { AllocatorPlacer } from "./allocator-placer.js";
import { REPLAY_POLICIES } from "./policies.js";

const pod = (name: string, numGpu: number, gpuMilli: number, cpuMilli = 1000): TracePod => ({
  name, cpuMilli, memoryMib: 1024, numGpu, gpuMilli, gpuModels: [],
});

describe("arrival sequence", () => {
  const pods = [pod("c", 1, 1000), pod("a", 1, 500), pod("b", 0, 0), pod("d", 2, 1000)];

  it("is a seeded permutation of the pods, then resampled up to the target request", () => {
    const seq = arrivalSequence(pods, { seed: 42, capacityMilliGpu: 4000, tuneRatio: 1.3 });
    const total = seq.reduce((s, p) => s + podGpuDemandMilli(p), 0);
    expect(total).toBeLessThanOrEqual(5200);
    // No pod with GPUs could be appended without passing the target... unless only CPU pods were drawn last.
    expect(total).toBeGreaterThan(5200 - 2000);
    expect([...seq.slice(0, 4)].map((p) => p.name).sort()).toEqual(["a", "b", "c", "d"]);
    expect(arrivalSequence(pods, { seed: 42, capacityMilliGpu: 4000, tuneRatio: 1.3 })).toEqual(seq);
  });

  it("does not depend on the input order (sorted by name first)", () => {
    const a = arrivalSequence(pods, { seed: 7, capacityMilliGpu: 4000, tuneRatio: 1 });
    const b = arrivalSequence([...pods].reverse(), { seed: 7, capacityMilliGpu: 4000, tuneRatio: 1 });
    expect(b.map((p) => p.name)).toEqual(a.map((p) => p.name));
  });

  it("differs between seeds", () => {
    const many = Array.from({ length: 20 }, (_, i) => pod(`p${String(i).padStart(2, "0")}`, 1, 100));
    const a = arrivalSequence(many, { seed: 1, capacityMilliGpu: 100_000, tuneRatio: 0 }).map((p) => p.name);
    const b = arrivalSequence(many, { seed: 2, capacityMilliGpu: 100_000, tuneRatio: 0 }).map((p) => p.name);
    expect(a).not.toEqual(b);
  });
});

describe("replay loop", () => {
  it("offers each pod once, drops failures and carries on, and tracks arrived vs allocated", () => {
    const offered: string[] = [];
    const placer: PodPlacer = { place: (p) => (offered.push(p.name), p.name !== "big") };
    const seq = [pod("x", 1, 1000), pod("big", 8, 1000), pod("y", 1, 500)];
    const r = replay(seq, placer);
    expect(offered).toEqual(["x", "big", "y"]);
    expect([...r.arrivedMilli]).toEqual([1000, 9000, 9500]);
    expect([...r.allocatedMilli]).toEqual([1000, 1000, 1500]);
    expect(r.failed).toBe(1);
    // capacity 10 GPUs: at arrived 90% (after "big") 10% is allocated.
    expect(unallocatedPctAt(r, 10_000, 90)).toBeCloseTo(90);
    expect(unallocatedPctAt(r, 10_000, 5)).toBe(100);
  });

  it("replays a tiny fleet through the allocator core: capacity is never exceeded", () => {
    const nodes = [
      { name: "n0", cpuMilli: 8000, memoryMib: 16384, gpuCount: 2, gpuModel: "T4" },
      { name: "n1", cpuMilli: 8000, memoryMib: 16384, gpuCount: 2, gpuModel: "T4" },
    ];
    const seq = [pod("a", 1, 1000), pod("b", 1, 600), pod("c", 1, 600), pod("d", 2, 1000), pod("e", 1, 400), pod("f", 1, 400)];
    for (const policy of REPLAY_POLICIES) {
      const r = replay(seq, new AllocatorPlacer(traceSnapshot(nodes), policy.build(), 1));
      const allocated = r.allocatedMilli[r.allocatedMilli.length - 1]!;
      expect(allocated).toBeLessThanOrEqual(4000);
      // a, b, c always fit (3 GPUs); the 2-GPU pod never fits after them.
      expect(r.placed).toBeGreaterThanOrEqual(3);
      expect(r.allocatedMilli[2]).toBe(2200);
      expect(r.allocatedMilli[3]).toBe(2200);
    }
  });
});

describe("meanSd", () => {
  it("uses the sample standard deviation", () => {
    expect(meanSd([1, 2, 3, 4])).toEqual({ mean: 2.5, sd: Math.sqrt(5 / 3) });
  });
});
