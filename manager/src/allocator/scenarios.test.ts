// Scenario tests: build a fleet, stream requests through place() + applyPlan(), check outcomes.

import { describe, expect, it } from "vitest";
import { applyPlan, buildPolicy, defaultPolicy, PlacementSession, place, type AllocationPolicy, type PlacementRequest } from "./index.js";
import { cpuHost, fleet, gpuHost, placeStream, vmRequest } from "./testing/fleet-builder.js";

const vertical = defaultPolicy;
const horizontal = buildPolicy({ mode: "horizontal" });
const opts = (policy: AllocationPolicy, seed = 1) => ({ seed, now: new Date(0), policy });
const small = (id: string, o = {}) => cpuHost(id, { cpu: { total: 8, allocated: 0 }, memory: { totalMib: 16384, reservedMib: 0, allocatedMib: 0 }, ...o });
const times = <T>(n: number, r: T): T[] => Array.from({ length: n }, () => r);
// Thresholds off unless a test is about them: a 3-host cluster passes 85% quickly.
const noThreshold = { cpuDisableThreshold: 1, memoryDisableThreshold: 1 };

describe("allocation mode", () => {
  it("vertical packs: fills one host before the next", () => {
    const out = placeStream(fleet([small("a"), small("b"), small("c")]), times(6, vmRequest({ vcpus: 4, memoryMib: 1024 })), buildPolicy(noThreshold));
    expect(out.hostNames).toEqual(["a", "a", "b", "b", "c", "c"]);
  });
  it("horizontal spreads: least allocated first", () => {
    const out = placeStream(fleet([small("a"), small("b"), small("c")]), times(6, vmRequest({ vcpus: 2, memoryMib: 1024 })), buildPolicy({ mode: "horizontal", ...noThreshold }));
    expect(out.hostNames).toEqual(["a", "b", "c", "a", "b", "c"]);
  });
});

describe("algorithms", () => {
  const hosts = () => fleet([small("a"), small("b"), small("c"), small("d")]);
  it("firstfit with horizontal off-tier: stable order when nothing else differs", () => {
    const p = buildPolicy({ algorithm: "firstfit", scorers: {}, ...noThreshold });
    expect(placeStream(hosts(), times(3, vmRequest({ vcpus: 1, memoryMib: 512 })), p).hostNames).toEqual(["a", "a", "a"]);
  });
  it("userdispersing spreads one account's VMs, ignoring other accounts", () => {
    const snap = fleet([small("a", { vms: [{ vmId: "x", accountId: "other" }] }), small("b"), small("c")]);
    const p = buildPolicy({ algorithm: "userdispersing", scorers: {}, ...noThreshold });
    expect(placeStream(snap, times(3, vmRequest({ vcpus: 1, memoryMib: 512 })), p).hostNames).toEqual(["a", "b", "c"]);
  });
  it("userconcentratedpod_firstfit: the pod where the account already is", () => {
    const snap = fleet([small("p1"), small("p2", { pod: "pod2", vms: [{ vmId: "x", accountId: "a1" }] })]);
    const p = buildPolicy({ algorithm: "userconcentratedpod_firstfit", scorers: {}, ...noThreshold });
    expect(placeStream(snap, times(2, vmRequest({ vcpus: 1, memoryMib: 512 })), p).hostNames).toEqual(["p2", "p2"]);
  });
  it("firstfitleastconsumed: least consumed host first", () => {
    const snap = fleet([small("a", { cpu: { total: 8, allocated: 4 } }), small("b", { cpu: { total: 8, allocated: 2 } })]);
    const p = buildPolicy({ algorithm: "firstfitleastconsumed", scorers: {}, ...noThreshold });
    expect(placeStream(snap, [vmRequest({ vcpus: 1, memoryMib: 0 })], p).hostNames).toEqual(["b"]);
  });
  it("random: same seed, same choices; another seed, other choices", () => {
    const p = buildPolicy({ algorithm: "random", ...noThreshold });
    const snap = fleet(Array.from({ length: 20 }, (_, i) => small(`h${i}`)));
    const reqs = times(10, vmRequest({ vcpus: 1, memoryMib: 256 }));
    const a = placeStream(snap, reqs, p, 5).hostNames;
    expect(placeStream(snap, reqs, p, 5).hostNames).toEqual(a);
    expect(placeStream(snap, reqs, p, 6).hostNames).not.toEqual(a);
    expect(new Set(a).size).toBeGreaterThan(3);
  });
});

describe("affinity", () => {
  const three = () => fleet([small("a"), small("b"), small("c")]);
  const anti = (strict: boolean): PlacementRequest =>
    vmRequest({ vcpus: 1, memoryMib: 256, affinityGroups: [{ id: "g", kind: "host-anti-affinity", strict }] });

  it("strict anti-affinity: 3 hosts, 4 VMs: the 4th is rejected, naming every host", () => {
    const out = placeStream(three(), times(4, anti(true)), vertical);
    expect(out.hostNames).toEqual(["a", "b", "c"]);
    const last = out.results[3]!;
    expect(last.ok).toBe(false);
    if (last.ok) return;
    expect(last.rejection.hosts.map((h) => `${h.hostName}:${h.filter}`)).toEqual(["a:affinity", "b:affinity", "c:affinity"]);
    expect(last.rejection.unschedulable).toBe("now");
  });
  it("strict anti-affinity with count 4 in one request: rejected at the 4th VM", () => {
    const res = place(three(), { ...anti(true), count: 4 }, opts(vertical));
    expect(res.ok).toBe(false);
    if (!res.ok) expect(res.rejection.vmIndex).toBe(3);
    const ok = place(three(), { ...anti(true), count: 3 }, opts(vertical));
    expect(ok.ok && ok.plan.placements.map((p) => p.hostId)).toEqual(["a", "b", "c"]);
  });
  it("non-strict anti-affinity: spreads first, then places the 4th anyway", () => {
    const out = placeStream(three(), times(4, anti(false)), vertical);
    expect(out.results.every((r) => r.ok)).toBe(true);
    expect(out.hostNames.slice(0, 3).sort()).toEqual(["a", "b", "c"]);
  });
  it("strict affinity keeps the group on one host", () => {
    const r = vmRequest({ vcpus: 1, memoryMib: 256, affinityGroups: [{ id: "g", kind: "host-affinity", strict: true }] });
    const out = placeStream(fleet([small("a", { cpu: { total: 8, allocated: 6 } }), small("b")]), times(3, r), horizontal);
    expect(out.hostNames).toEqual(["b", "b", "b"]);
  });
  it("members on a Down host neither pin a host-affinity group there nor keep anti-affinity off anywhere (HA re-placement)", () => {
    const snap = fleet([small("dead", { status: "Down" }), small("b", { cpu: { total: 8, allocated: 6 } }), small("c")]);
    const member = (kind: "host-affinity" | "host-anti-affinity") =>
      vmRequest({ vcpus: 1, memoryMib: 256, affinityGroups: [{ id: "g", kind, strict: true, memberHostIds: ["dead"] }] });
    // Affinity: without the rule, only "dead" would pass (and it is Down): rejected.
    const aff = place(snap, member("host-affinity"), opts(vertical));
    expect(aff.ok && aff.plan.placements[0]!.hostId).toBe("b");
    // Anti-affinity: a live member on "b" still keeps it off "b".
    const anti = place(snap, { ...member("host-anti-affinity"), affinityGroups: [{ id: "g", kind: "host-anti-affinity", strict: true, memberHostIds: ["dead", "b"] }] }, opts(vertical));
    expect(anti.ok && anti.plan.placements[0]!.hostId).toBe("c");
  });
  it("avoid is best effort", () => {
    const snap = fleet([small("a", { vms: [{ vmId: "v1", accountId: "a1" }] }), small("b", { cpu: { total: 8, allocated: 7 } })]);
    const r = vmRequest({ vcpus: 1, memoryMib: 256, avoidVmIds: ["v1"] });
    expect(placeStream(snap, times(2, r), vertical).hostNames).toEqual(["b", "a"]);
  });
});

describe("host tags and OS type", () => {
  it("tagged flavors only on tagged hosts; rejected once those are full", () => {
    const snap = fleet([small("plain"), small("ssd", { tags: ["ssd"] })]);
    const out = placeStream(snap, times(3, vmRequest({ vcpus: 4, memoryMib: 1024, hostTags: ["ssd"] })), buildPolicy(noThreshold));
    expect(out.hostNames).toEqual(["ssd", "ssd"]);
    const last = out.results[2]!;
    expect(!last.ok && last.rejection.hosts.map((h) => h.filter)).toEqual(["host-tags", "cpu-capacity"]);
  });
  it("OS-tagged hosts first, any host with room after", () => {
    const snap = fleet([small("any"), small("win", { osTypes: ["windows"] })]);
    const out = placeStream(snap, times(3, vmRequest({ vcpus: 4, memoryMib: 1024, osType: "windows" })), buildPolicy(noThreshold));
    expect(out.hostNames).toEqual(["win", "win", "any"]);
  });
});

describe("GPUs", () => {
  it("VMs without GPUs go to GPU hosts last", () => {
    const snap = fleet([gpuHost("gpu"), small("cpu")]);
    const out = placeStream(snap, times(3, vmRequest({ vcpus: 4, memoryMib: 1024 })), buildPolicy(noThreshold));
    expect(out.hostNames).toEqual(["cpu", "cpu", "gpu"]);
  });

  it("homogeneous vGPU: each GPU hosts one type; a type packs its GPU before opening another", () => {
    const types = [{ name: "A", maxInstances: 2 }, { name: "B", maxInstances: 2 }];
    const snap = fleet([gpuHost("g", { gpuCount: 2, numaNodes: 1, vgpuTypes: types })]);
    const reqs = ["A", "B", "A", "B", "A"].map((t) => vmRequest({ vcpus: 1, memoryMib: 256, gpu: { kind: "vgpu", vgpuType: t } }));
    const out = placeStream(snap, reqs, vertical);
    const gpuOf = out.results.map((r) => (r.ok ? r.plan.placements[0]!.gpus[0]!.gpuId : "rejected"));
    expect(gpuOf).toEqual(["g-gpu0", "g-gpu1", "g-gpu0", "g-gpu1", "rejected"]);
    const last = out.results[4]!;
    expect(!last.ok && last.rejection.hosts[0]!.reason).toBe("needs vGPU A: no GPU is free or hosts that type with room");
  });

  it("multi-GPU VMs get GPUs on one NUMA node and vCPUs pinned there", () => {
    // Node 0 (GPUs 0-3) has 2 free, node 1 (GPUs 4-7) 4 free; no NVLink information.
    const h = gpuHost("g", { nvlinkDomainOf: null, cpu: { total: 16, allocated: 0 }, gpuUse: (i) => (i < 2 ? { kind: "passthrough" } : { kind: "free" }) });
    const res = place(fleet([h]), vmRequest({ vcpus: 4, memoryMib: 4096, gpu: { kind: "passthrough", count: 4 } }), opts(vertical));
    expect(res.ok).toBe(true);
    if (!res.ok) return;
    const p = res.plan.placements[0]!;
    expect(p.gpus.map((g) => g.gpuId)).toEqual(["g-gpu4", "g-gpu5", "g-gpu6", "g-gpu7"]);
    expect(p.numaNode).toBe(1);
    expect(p.pinnedCpus).toEqual([8, 9, 10, 11]);
  });

  it("required locality holds even in a policy without the locality scorer", () => {
    // Node 0 (GPUs 0-3) has GPU 0 taken; node 1 is free. First-fit order would take GPUs 1-4.
    const h = gpuHost("g", { nvlinkDomainOf: null, gpuUse: (i) => (i === 0 ? { kind: "passthrough" } : { kind: "free" }) });
    const plain = buildPolicy({ scorers: {} });
    const req = vmRequest({ gpu: { kind: "passthrough", count: 4, requireLocality: true } });
    const res = place(fleet([h]), req, opts(plain));
    expect(res.ok && res.plan.placements[0]!.gpus.map((g) => g.gpuId)).toEqual(["g-gpu4", "g-gpu5", "g-gpu6", "g-gpu7"]);
    const loose = place(fleet([h]), vmRequest({ gpu: { kind: "passthrough", count: 4 } }), opts(plain));
    expect(loose.ok && loose.plan.placements[0]!.gpus.map((g) => g.gpuId)).toEqual(["g-gpu1", "g-gpu2", "g-gpu3", "g-gpu4"]);
  });

  it("prefers the host where the GPUs can be NUMA-local", () => {
    const spread = gpuHost("spread", { nvlinkDomainOf: null, gpuUse: (i) => (i === 0 || i === 1 || i === 4 || i === 5 ? { kind: "passthrough" } : { kind: "free" }) });
    const local = gpuHost("local", { nvlinkDomainOf: null });
    const res = place(fleet([spread, local]), vmRequest({ gpu: { kind: "passthrough", count: 4 } }), opts(vertical));
    expect(res.ok && res.plan.placements[0]!.hostId).toBe("local");
  });

  it("whole-GPU placement keeps 8-GPU hosts whole for 8-GPU VMs (fragmentation-aware)", () => {
    // The empty host comes first in host order (packing momentum prefers it): fragmentation wins,
    // even in a 2-host fleet where one position is the whole order (packing order breaks near-ties).
    const snap = fleet([gpuHost("full8"), gpuHost("half", { gpuUse: (i) => (i < 4 ? { kind: "passthrough" } : { kind: "free" }) })]);
    const reqs = [vmRequest({ gpu: { kind: "passthrough", count: 2 } }), vmRequest({ gpu: { kind: "passthrough", count: 8 } })];
    const out = placeStream(snap, reqs, vertical);
    expect(out.hostNames).toEqual(["half", "full8"]);
    const naive = placeStream(snap, reqs, buildPolicy({ scorers: {} }));
    expect(naive.hostNames).toEqual(["full8"]);
  });

  it("a request no host could ever meet is 'never'", () => {
    const res = place(fleet([gpuHost("g"), small("c")]), vmRequest({ gpu: { kind: "passthrough", count: 2, models: ["B200"] } }), opts(vertical));
    expect(!res.ok && res.rejection.unschedulable).toBe("never");
    expect(!res.ok && res.rejection.hosts.map((h) => `${h.hostName}: ${h.filter}: ${h.reason}`)).toEqual([
      "g: gpu-model: needs 2 x B200, host has 0 such GPUs",
      "c: gpu-model: needs 2 x B200, host has 0 such GPUs",
    ]);
  });
});

describe("capacity", () => {
  it("count > 1 consumes capacity as it goes", () => {
    const snap = fleet([small("a"), small("b")]);
    const res = place(snap, vmRequest({ vcpus: 3, memoryMib: 1024, count: 4 }), opts(buildPolicy(noThreshold)));
    expect(res.ok && res.plan.placements.map((p) => p.hostId)).toEqual(["a", "a", "b", "b"]);
    const over = place(snap, vmRequest({ vcpus: 3, memoryMib: 1024, count: 5 }), opts(buildPolicy(noThreshold)));
    expect(!over.ok && over.rejection).toMatchObject({ vmIndex: 4, unschedulable: "now" });
    expect(!over.ok && over.rejection.message).toMatch(/^No host can take VM 5 of 5 \(3 vCPU, 1024 MiB\): 2 hosts refused \(cpu-capacity: 2\)$/);
  });
  it("count > 1 never gives one GPU twice", () => {
    const res = place(fleet([gpuHost("g")]), vmRequest({ vcpus: 1, memoryMib: 256, count: 4, gpu: { kind: "passthrough", count: 2 } }), opts(vertical));
    expect(res.ok).toBe(true);
    const ids = res.ok ? res.plan.placements.flatMap((p) => p.gpus.map((g) => g.gpuId)) : [];
    expect(new Set(ids).size).toBe(8);
    const over = place(fleet([gpuHost("g")]), vmRequest({ vcpus: 1, memoryMib: 256, count: 5, gpu: { kind: "passthrough", count: 2 } }), opts(vertical));
    expect(over.ok).toBe(false);
  });
  it("cluster thresholds move VMs to the next cluster", () => {
    const snap = fleet([small("a", { cpu: { total: 8, allocated: 6 } }), small("b", { cluster: "c2" })]);
    const out = placeStream(snap, times(2, vmRequest({ vcpus: 1, memoryMib: 0 })), vertical);
    // a would be 7/8 = 87.5% > 85%: b, even though vertical prefers the fuller a.
    expect(out.hostNames).toEqual(["b", "b"]);
  });
  it("the rejection explains every host", () => {
    const snap = fleet([
      small("full", { cpu: { total: 8, allocated: 8 } }),
      small("down", { status: "Down" }),
      small("zone", { environment: "env9" }),
      small("tiny", { memory: { totalMib: 1024, reservedMib: 512, allocatedMib: 0 } }),
      gpuHost("gpu", { cluster: "c3", cpu: { total: 8, allocated: 8 } }),
    ]);
    const res = place(snap, vmRequest({ vcpus: 1, memoryMib: 1024 }), opts(vertical));
    expect(res.ok).toBe(false);
    if (res.ok) return;
    expect(res.rejection.hosts.map((h) => [h.hostId, h.filter, h.code])).toEqual([
      ["full", "cpu-capacity", "cpu_capacity"],
      ["down", "host-state", "host_not_up"],
      ["zone", "scope", "out_of_scope"],
      ["tiny", "memory-capacity", "memory_capacity"],
      ["gpu", "cpu-capacity", "cpu_capacity"],
    ]);
  });
});

describe("purity and streaming", () => {
  const deepFreeze = <T>(o: T): T => {
    if (o && typeof o === "object" && !Object.isFrozen(o)) {
      Object.freeze(o);
      for (const v of Object.values(o)) deepFreeze(v);
    }
    return o;
  };

  it("place() and applyPlan() never change their input snapshot", () => {
    const snap = deepFreeze(fleet([small("a"), gpuHost("g")]));
    const r = vmRequest({ count: 3, gpu: { kind: "passthrough", count: 2 } });
    const res = place(snap, r, opts(vertical));
    expect(res.ok).toBe(true);
    if (res.ok) expect(() => applyPlan(snap, r, res.plan)).not.toThrow();
  });

  it("placing again on the same snapshot gives the same plan", () => {
    const snap = fleet([small("a"), small("b"), gpuHost("g")]);
    const r = vmRequest({ count: 2, gpu: { kind: "vgpu", vgpuType: "x" } });
    const withTypes = fleet([gpuHost("g", { vgpuTypes: [{ name: "x", maxInstances: 2 }] })]);
    expect(place(snap, r, opts(vertical))).toEqual(place(snap, r, opts(vertical)));
    const a = place(withTypes, r, opts(vertical));
    expect(a.ok).toBe(true);
    expect(place(withTypes, r, opts(vertical))).toEqual(a);
  });

  it("applyPlan leaves the old snapshot usable (its index is rebuilt)", () => {
    const snap = fleet([small("a")]);
    const r = vmRequest({ vcpus: 8, memoryMib: 0 });
    const res = place(snap, r, opts(buildPolicy(noThreshold)));
    if (!res.ok) throw new Error("expected a plan");
    const next = applyPlan(snap, r, res.plan);
    expect(place(next, r, opts(buildPolicy(noThreshold))).ok).toBe(false);
    expect(place(snap, r, opts(buildPolicy(noThreshold))).ok).toBe(true);
  });

  it("a session decides as applyPlan'd snapshots do", () => {
    const snap = fleet([small("a"), small("b"), gpuHost("g1"), gpuHost("g2", { model: "A100 80GB" })]);
    const reqs: PlacementRequest[] = [];
    for (let i = 0; i < 30; i++) {
      reqs.push(
        i % 3 === 0
          ? vmRequest({ vcpus: 2, memoryMib: 2048, gpu: { kind: "passthrough", count: 1 + (i % 4) } })
          : i % 3 === 1
            ? vmRequest({ vcpus: 1, memoryMib: 1024, gpu: { kind: "share", milli: 250 } })
            : vmRequest({ vcpus: 2, memoryMib: 4096 }),
      );
    }
    const viaSnapshots = placeStream(snap, reqs, horizontal, 3).results.map((r) => (r.ok ? r.plan.placements : null));
    const session = new PlacementSession(snap, horizontal);
    const viaSession = reqs.map((r, i) => {
      const res = session.placeAndCommit(r, 3 + i);
      return res.ok ? res.plan.placements : null;
    });
    expect(viaSession).toEqual(viaSnapshots);
  });
});
