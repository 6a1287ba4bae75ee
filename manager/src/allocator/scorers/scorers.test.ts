import { describe, expect, it } from "vitest";
import { SCORERS } from "../registry.js";
import { resolvePolicyConfig } from "../policy.js";
import { cpuHost, fleet, gpuHost, vmRequest } from "../testing/fleet-builder.js";
import { contextFor, runScorer } from "../testing/plugin-harness.js";
import type { GpuUse, HostVm } from "../types.js";
import { AffinityPreferenceScorer } from "./affinity-preference.scorer.js";
import { AllocatedCapacityScorer } from "./allocated-capacity.scorer.js";
import { AvoidScorer } from "./avoid.scorer.js";
import { FirstFitScorer } from "./firstfit.scorer.js";
import { GpuBestFitScorer } from "./gpu-bestfit.scorer.js";
import { GpuHostsLastScorer } from "./gpu-hosts-last.scorer.js";
import { GpuLocalityScorer } from "./gpu-locality.scorer.js";
import { GpuPackingOrderScorer } from "./gpu-packing-order.scorer.js";
import { LeastConsumedScorer } from "./leastconsumed.scorer.js";
import { OsTypeScorer } from "./os-type.scorer.js";
import { RandomScorer } from "./random.scorer.js";
import { UserConcentratedPodScorer } from "./userconcentratedpod.scorer.js";
import { UserDispersingScorer } from "./userdispersing.scorer.js";
import { VgpuPackingScorer } from "./vgpu-packing.scorer.js";

const vms = (account: string, n: number): HostVm[] => Array.from({ length: n }, (_, i) => ({ vmId: `${account}-${i}-${Math.random()}`, accountId: account }));
const used = (cpu: number, memMib: number) => ({ cpu: { total: 10, allocated: cpu }, memory: { totalMib: 1000, reservedMib: 0, allocatedMib: memMib } });

describe("AllocatedCapacityScorer (vertical / horizontal)", () => {
  const snap = fleet([cpuHost("empty", used(0, 0)), cpuHost("half", used(5, 500)), cpuHost("mixed", used(10, 0))]);
  it.each([
    ["vertical", { empty: 0, half: 0.5, mixed: 0.5 }],
    ["horizontal", { empty: 1, half: 0.5, mixed: 0.5 }],
  ] as const)("%s", (mode, expected) => {
    expect(runScorer(new AllocatedCapacityScorer({ mode }), snap, vmRequest())).toEqual(expected);
  });
  it("leastconsumed is the horizontal order", () => {
    expect(runScorer(new LeastConsumedScorer(), snap, vmRequest())).toEqual({ empty: 1, half: 0.5, mixed: 0.5 });
  });
});

describe("GpuPackingOrderScorer", () => {
  it("orders GPU hosts by the stable host order and leaves CPU hosts level", () => {
    const snap = fleet([gpuHost("g0"), cpuHost("c1"), gpuHost("g2"), cpuHost("c3")]);
    expect(runScorer(new GpuPackingOrderScorer(), snap, vmRequest({ gpu: { kind: "passthrough", count: 1 } }))).toEqual({ g0: 1, c1: 1, g2: 1 - 2 / 64, c3: 1 });
  });

  it("spreads the order over the fleet, or over 64 positions in a smaller one (a tie-breaker there)", () => {
    const hosts = Array.from({ length: 200 }, (_, i) => gpuHost(`g${i}`));
    const s = runScorer(new GpuPackingOrderScorer(), fleet(hosts), vmRequest({ gpu: { kind: "passthrough", count: 1 } }))!;
    expect(s["g0"]).toBe(1);
    expect(s["g100"]).toBe(0.5);
    expect(s["g199"]).toBeCloseTo(0.005);
  });
});

describe("FirstFitScorer / RandomScorer", () => {
  const snap = fleet([cpuHost("a"), cpuHost("b"), cpuHost("c"), cpuHost("d")]);
  it("firstfit falls along the stable host order", () => {
    expect(runScorer(new FirstFitScorer(), snap, vmRequest())).toEqual({ a: 1, b: 0.75, c: 0.5, d: 0.25 });
  });
  it("random is reproducible for a seed and differs across seeds", () => {
    const s1 = runScorer(new RandomScorer(), snap, vmRequest(), { seed: 1 });
    expect(runScorer(new RandomScorer(), snap, vmRequest(), { seed: 1 })).toEqual(s1);
    expect(runScorer(new RandomScorer(), snap, vmRequest(), { seed: 2 })).not.toEqual(s1);
    expect(runScorer(new RandomScorer(), snap, vmRequest(), { seed: 1, vmIndex: 1 })).not.toEqual(s1);
  });
});

describe("UserDispersingScorer / UserConcentratedPodScorer", () => {
  const snap = fleet([
    cpuHost("p1a", { vms: vms("a1", 3) }),
    cpuHost("p1b", { vms: vms("a2", 5) }),
    cpuHost("p2a", { pod: "pod2", vms: vms("a1", 1) }),
    cpuHost("p3a", { pod: "pod3" }),
  ]);
  it("dispersing: fewer VMs of the account scores higher", () => {
    expect(runScorer(new UserDispersingScorer(), snap, vmRequest({ accountId: "a1" }))).toEqual({ p1a: 0.25, p1b: 1, p2a: 0.5, p3a: 1 });
  });
  it("concentrated pod: pods with more of the account's VMs first", () => {
    expect(runScorer(new UserConcentratedPodScorer(), snap, vmRequest({ accountId: "a1" }))).toEqual({ p1a: 1, p1b: 1, p2a: 1 / 3, p3a: 0 });
  });
  it("concentrated pod: a new account scores every host the same (off)", () => {
    expect(runScorer(new UserConcentratedPodScorer(), snap, vmRequest({ accountId: "new" }))).toBeNull();
  });
});

describe("OsTypeScorer / GpuHostsLastScorer", () => {
  const snap = fleet([cpuHost("win", { osTypes: ["windows"] }), cpuHost("any"), cpuHost("lin", { osTypes: ["linux"] }), gpuHost("gpu")]);
  it("hosts for the OS first, untagged next, other OS last", () => {
    expect(runScorer(new OsTypeScorer(), snap, vmRequest({ osType: "windows" }))).toEqual({ win: 1, any: 0.5, lin: 0, gpu: 0.5 });
    expect(runScorer(new OsTypeScorer(), snap, vmRequest())).toBeNull();
  });
  it("GPU hosts last for VMs without GPUs only", () => {
    expect(runScorer(new GpuHostsLastScorer(), snap, vmRequest())).toEqual({ win: 1, any: 1, lin: 1, gpu: 0 });
    expect(runScorer(new GpuHostsLastScorer(), snap, vmRequest({ gpu: { kind: "passthrough", count: 1 } }))).toBeNull();
  });
});

describe("AffinityPreferenceScorer / AvoidScorer", () => {
  const snap = fleet([
    cpuHost("a", { vms: [{ vmId: "v1", accountId: "a1", affinityGroupIds: ["g"] }] }),
    cpuHost("b", { vms: [{ vmId: "v2", accountId: "a1" }] }),
  ]);
  it.each([
    ["host-anti-affinity", { a: 0, b: 1 }],
    ["host-affinity", { a: 1, b: 0 }],
  ] as const)("non-strict %s", (kind, expected) => {
    expect(runScorer(new AffinityPreferenceScorer(), snap, vmRequest({ affinityGroups: [{ id: "g", kind, strict: false }] }))).toEqual(expected);
  });
  it("strict groups are the filter's, not the scorer's", () => {
    expect(runScorer(new AffinityPreferenceScorer(), snap, vmRequest({ affinityGroups: [{ id: "g", kind: "host-affinity", strict: true }] }))).toBeNull();
  });
  it("avoid: hosts of the listed VMs score 0", () => {
    expect(runScorer(new AvoidScorer(), snap, vmRequest({ avoidVmIds: ["v2", "unknown"] }))).toEqual({ a: 1, b: 0 });
    expect(runScorer(new AvoidScorer(), snap, vmRequest({ avoidVmIds: ["unknown"] }))).toBeNull();
  });
});

describe("GPU scorers", () => {
  const taken = (n: number) => (i: number): GpuUse => (i < n ? { kind: "passthrough" } : { kind: "free" });
  const snap = fleet([gpuHost("free8"), gpuHost("free2", { gpuUse: taken(6) }), gpuHost("free4", { gpuUse: taken(4) }), gpuHost("full", { gpuUse: taken(8) })]);
  it("best fit: the host left with the fewest free GPUs; hosts that cannot take it score 0", () => {
    expect(runScorer(new GpuBestFitScorer(), snap, vmRequest({ gpu: { kind: "passthrough", count: 2 } }))).toEqual({
      free8: 0.25, free2: 1, free4: 0.75, full: 0,
    });
  });
  it("locality: one NVLink domain and NUMA node > one domain > one node > spread", () => {
    // 8 GPUs over 2 NUMA nodes (0-3, 4-7); NVLink domains: {0,1} {2..7}.
    const dom = (i: number) => (i < 2 ? "d0" : "d1");
    const h = (id: string, busy: number[]) =>
      gpuHost(id, { nvlinkDomainOf: dom, gpuUse: (i) => (busy.includes(i) ? { kind: "passthrough" } : { kind: "free" }) });
    const s = fleet([h("both", []), h("nvl", [2, 3, 6, 7]), h("spread", [1, 2, 3, 5, 6, 7])]);
    const scores = runScorer(new GpuLocalityScorer(), s, vmRequest({ gpu: { kind: "passthrough", count: 2 } }))!;
    expect(scores).toEqual({ both: 1, nvl: 1, spread: 0 });
    const four = runScorer(new GpuLocalityScorer(), s, vmRequest({ gpu: { kind: "passthrough", count: 4 } }))!;
    // both: GPUs 4-7 are one domain on node 1; nvl: only 4 free (0,1,4,5) over 2 domains and 2 nodes.
    expect(four).toEqual({ both: 1, nvl: 0, spread: 0 });
  });
  it("vGPU packing: a GPU already hosting the type beats opening a GPU", () => {
    const types = [{ name: "T", maxInstances: 4 }];
    const s = fleet([
      gpuHost("empty", { vgpuTypes: types }),
      gpuHost("one", { vgpuTypes: types, gpuUse: (i) => (i === 0 ? { kind: "vgpu", instances: [{ vgpuType: "T", count: 1 }] } : { kind: "free" }) }),
      gpuHost("three", { vgpuTypes: types, gpuUse: (i) => (i === 0 ? { kind: "vgpu", instances: [{ vgpuType: "T", count: 3 }] } : { kind: "free" }) }),
    ]);
    expect(runScorer(new VgpuPackingScorer(), s, vmRequest({ gpu: { kind: "vgpu", vgpuType: "T" } }))).toEqual({ empty: 0, one: 0.75, three: 1 });
  });
  it("share packing: fullest shared GPU that still fits", () => {
    const s = fleet([
      gpuHost("s200", { gpuCount: 1, gpuUse: () => ({ kind: "share", milliUsed: 200 }) }),
      gpuHost("s500", { gpuCount: 1, gpuUse: () => ({ kind: "share", milliUsed: 500 }) }),
      gpuHost("s900", { gpuCount: 1, gpuUse: () => ({ kind: "share", milliUsed: 900 }) }),
    ]);
    expect(runScorer(new VgpuPackingScorer(), s, vmRequest({ gpu: { kind: "share", milli: 500 } }))).toEqual({ s200: 0.85, s500: 1, s900: 0 });
  });
  it("GPU scorers are off for VMs without GPUs", () => {
    for (const sc of [new GpuBestFitScorer(), new GpuLocalityScorer(), new VgpuPackingScorer()]) expect(runScorer(sc, snap, vmRequest())).toBeNull();
  });
});

describe("every registered scorer", () => {
  const snap = fleet([
    cpuHost("c", { vms: vms("a1", 2), osTypes: ["linux"] }),
    gpuHost("g", { vgpuTypes: [{ name: "T", maxInstances: 4 }], gpuUse: (i) => (i === 0 ? { kind: "passthrough" } : { kind: "free" }) }),
  ]);
  const requests = [
    vmRequest({ osType: "linux", avoidVmIds: ["x"], affinityGroups: [{ id: "g", kind: "host-affinity", strict: false, memberHostIds: ["c"] }] }),
    vmRequest({ gpu: { kind: "passthrough", count: 2 } }),
    vmRequest({ gpu: { kind: "vgpu", vgpuType: "T" } }),
    vmRequest({ gpu: { kind: "share", milli: 300 } }),
  ];
  const config = resolvePolicyConfig({ mode: "horizontal" });
  it.each([...SCORERS.keys()])("%s scores within 0..1 and is a pure function of the host", (name) => {
    const scorer = SCORERS.get(name)!(config);
    for (const r of requests) {
      const ctx = contextFor(snap, r, { config });
      const fn = scorer.prepare(ctx);
      if (fn === null) continue;
      for (const h of ctx.hosts) {
        const s = fn.score(h);
        expect(s).toBeGreaterThanOrEqual(0);
        expect(s).toBeLessThanOrEqual(1);
        expect(fn.score(h)).toBe(s);
      }
    }
  });
});
