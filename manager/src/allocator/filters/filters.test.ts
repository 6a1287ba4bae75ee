import { describe, expect, it } from "vitest";
import { resolvePolicyConfig } from "../policy.js";
import { cpuHost, fleet, gpuHost, vmRequest } from "../testing/fleet-builder.js";
import { passing, runFilter } from "../testing/plugin-harness.js";
import type { HostSnapshot, PlacementRequest } from "../types.js";
import { AffinityFilter } from "./affinity.filter.js";
import { ClusterThresholdFilter } from "./cluster-threshold.filter.js";
import { CpuCapacityFilter } from "./cpu-capacity.filter.js";
import { CpuTypeFilter } from "./cpu-type.filter.js";
import { GpuCapacityFilter } from "./gpu-capacity.filter.js";
import { GpuModelFilter } from "./gpu-model.filter.js";
import { HostStateFilter } from "./host-state.filter.js";
import { HostTagsFilter } from "./host-tags.filter.js";
import { HypervisorFilter } from "./hypervisor.filter.js";
import { MemoryCapacityFilter } from "./memory-capacity.filter.js";
import { ScopeFilter } from "./scope.filter.js";

interface Row {
  name: string;
  hosts: HostSnapshot[];
  request: Partial<PlacementRequest>;
  pass: string[];
}

function table(filter: ConstructorParameters<typeof Object>[0], rows: Row[]): void {
  it.each(rows)("$name", ({ hosts, request, pass }) => {
    expect(passing(filter, fleet(hosts), vmRequest(request))).toEqual(pass);
  });
}

describe("ScopeFilter", () => {
  const hosts = [
    cpuHost("a"),
    cpuHost("b", { environment: "env2" }),
    cpuHost("c", { pod: "pod2", cluster: "c2" }),
  ];
  table(new ScopeFilter(), [
    { name: "environment only", hosts, request: {}, pass: ["a", "c"] },
    { name: "other environment", hosts, request: { environment: "env2" }, pass: ["b"] },
    { name: "pod", hosts, request: { pod: "pod2" }, pass: ["c"] },
    { name: "cluster", hosts, request: { cluster: "c1" }, pass: ["a"] },
    { name: "named host", hosts, request: { hostId: "c" }, pass: ["c"] },
  ]);
  it("explains with the host's zone", () => {
    const out = runFilter(new ScopeFilter(), fleet(hosts), vmRequest())!;
    expect(out[1]!.verdict).toEqual({ code: "out_of_scope", reason: "in environment env2, not env1", unresolvable: true });
  });
});

describe("HostStateFilter", () => {
  table(new HostStateFilter(), [
    {
      name: "only Up and Enabled",
      hosts: [
        cpuHost("up"),
        cpuHost("down", { status: "Down" }),
        cpuHost("disabled", { resourceState: "Disabled" }),
        cpuHost("maint", { resourceState: "Maintenance" }),
        cpuHost("preparing", { resourceState: "PrepareForMaintenance" }),
        cpuHost("error-maint", { resourceState: "ErrorInMaintenance" }),
        cpuHost("disc", { status: "Disconnected" }),
      ],
      request: {},
      pass: ["up"],
    },
  ]);
});

describe("HypervisorFilter and CpuTypeFilter", () => {
  const hosts = [cpuHost("kvm-amd"), cpuHost("kvm-intel", { cpuType: "intel" }), cpuHost("xen", { hypervisor: "XenServer" })];
  table(new HypervisorFilter(), [
    { name: "no hypervisor asked: all", hosts, request: {}, pass: ["kvm-amd", "kvm-intel", "xen"] },
    { name: "case-insensitive", hosts, request: { hypervisor: "kvm" }, pass: ["kvm-amd", "kvm-intel"] },
  ]);
  table(new CpuTypeFilter(), [
    { name: "cpu type", hosts, request: { cpuType: "Intel" }, pass: ["kvm-intel"] },
    { name: "none asked", hosts, request: {}, pass: ["kvm-amd", "kvm-intel", "xen"] },
  ]);
});

describe("HostTagsFilter", () => {
  const hosts = [cpuHost("none"), cpuHost("ssd", { tags: ["ssd"] }), cpuHost("ssd-gpu", { tags: ["ssd", "fast"] })];
  table(new HostTagsFilter(), [
    { name: "no tags: every host", hosts, request: {}, pass: ["none", "ssd", "ssd-gpu"] },
    { name: "one tag", hosts, request: { hostTags: ["ssd"] }, pass: ["ssd", "ssd-gpu"] },
    { name: "all tags must be on the host", hosts, request: { hostTags: ["ssd", "fast"] }, pass: ["ssd-gpu"] },
    { name: "named host: non-strict tags waived", hosts, request: { hostTags: ["ssd"], hostId: "none" }, pass: ["none", "ssd", "ssd-gpu"] },
    { name: "named host with strictHostTags", hosts, request: { hostTags: ["ssd"], hostId: "none", strictHostTags: true }, pass: ["ssd", "ssd-gpu"] },
  ]);
  it("named host: tags in vm.strict.host.tags still apply", () => {
    const config = resolvePolicyConfig({ strictHostTags: "fast" });
    const req = vmRequest({ hostTags: ["ssd", "fast"], hostId: "none" });
    expect(passing(new HostTagsFilter(), fleet(hosts), req, { config })).toEqual(["ssd-gpu"]);
  });
  it("explains the missing tag", () => {
    const out = runFilter(new HostTagsFilter(), fleet(hosts), vmRequest({ hostTags: ["ssd", "fast"] }))!;
    expect(out[1]!.verdict?.reason).toBe("lacks host tag fast");
  });
});

describe("CpuCapacityFilter / MemoryCapacityFilter", () => {
  const hosts = [
    cpuHost("full", { cpu: { total: 16, allocated: 15 } }),
    cpuHost("room", { cpu: { total: 16, allocated: 14 } }),
    cpuHost("op", { cpu: { total: 16, allocated: 30 }, overprovisioning: { cpu: 2 } }),
  ];
  table(new CpuCapacityFilter(), [
    { name: "free vCPUs", hosts, request: { vcpus: 2 }, pass: ["room", "op"] },
    { name: "exactly full fits", hosts, request: { vcpus: 1 }, pass: ["full", "room", "op"] },
  ]);
  it("uses the global factor, overridden per cluster and per host", () => {
    const snap = fleet(
      [
        cpuHost("g", { cpu: { total: 10, allocated: 10 } }),
        cpuHost("cl", { cluster: "c2", cpu: { total: 10, allocated: 10 } }),
        cpuHost("h", { cpu: { total: 10, allocated: 10 }, overprovisioning: { cpu: 1 } }),
      ],
      [{ id: "c2", overprovisioning: { cpu: 3 } }],
    );
    const config = resolvePolicyConfig({ cpuOverprovisioning: 2 });
    expect(passing(new CpuCapacityFilter(), snap, vmRequest({ vcpus: 10 }), { config })).toEqual(["g", "cl"]);
    expect(passing(new CpuCapacityFilter(), snap, vmRequest({ vcpus: 11 }), { config })).toEqual(["cl"]);
  });
  it("memory counts the host reserve and the memory factor", () => {
    const mem = (totalMib: number, reservedMib: number, allocatedMib: number) => ({ memory: { totalMib, reservedMib, allocatedMib } });
    const snap = fleet([cpuHost("r", mem(8192, 2048, 2048)), cpuHost("nr", mem(8192, 0, 2048))]);
    expect(passing(new MemoryCapacityFilter(), snap, vmRequest({ memoryMib: 5000 }))).toEqual(["nr"]);
    const config = resolvePolicyConfig({ memoryOverprovisioning: 1.5 });
    // (8192 − 2048) × 1.5 − 2048 = 7168 free
    expect(passing(new MemoryCapacityFilter(), snap, vmRequest({ memoryMib: 7000 }), { config })).toEqual(["r", "nr"]);
  });
  it("unresolvable only when the host could never hold it", () => {
    const out = runFilter(new CpuCapacityFilter(), fleet(hosts), vmRequest({ vcpus: 20 }))!;
    expect(out.map((o) => o.verdict?.unresolvable)).toEqual([true, true, false]);
    expect(out[0]!.verdict?.reason).toBe("needs 20 vCPU, 1 of 16 free");
  });
});

describe("ClusterThresholdFilter", () => {
  // c1: 2 hosts × 10 CPUs, 16 allocated (80%); c2: 10 CPUs, 5 allocated.
  const hosts = [
    cpuHost("a", { cpu: { total: 10, allocated: 8 } }),
    cpuHost("b", { cpu: { total: 10, allocated: 8 } }),
    cpuHost("c", { cluster: "c2", cpu: { total: 10, allocated: 5 } }),
  ];
  table(new ClusterThresholdFilter(), [
    { name: "below 85% with the VM", hosts, request: { vcpus: 1, memoryMib: 0 }, pass: ["a", "b", "c"] },
    { name: "past 85% with the VM", hosts, request: { vcpus: 2, memoryMib: 0 }, pass: ["c"] },
  ]);
  it("per-cluster threshold overrides the global one", () => {
    const snap = fleet(hosts, [{ id: "c1", cpuDisableThreshold: 0.95 }]);
    expect(passing(new ClusterThresholdFilter(), snap, vmRequest({ vcpus: 2, memoryMib: 0 }))).toEqual(["a", "b", "c"]);
    const config = resolvePolicyConfig({ cpuDisableThreshold: 0.5 });
    expect(passing(new ClusterThresholdFilter(), fleet(hosts), vmRequest({ vcpus: 1, memoryMib: 0 }), { config })).toEqual([]);
  });
  it("memory threshold too, with a reason", () => {
    const snap = fleet([cpuHost("m", { memory: { totalMib: 1000, reservedMib: 0, allocatedMib: 800 } })]);
    const out = runFilter(new ClusterThresholdFilter(), snap, vmRequest({ vcpus: 1, memoryMib: 100 }))!;
    expect(out[0]!.verdict?.reason).toBe("cluster c1 memory would be 90% allocated, threshold 85%");
  });
});

describe("GpuModelFilter / GpuCapacityFilter", () => {
  const pass = (i: number) => (i < 6 ? { kind: "passthrough" as const } : { kind: "free" as const });
  const hosts = [
    cpuHost("cpu"),
    gpuHost("h100"),
    gpuHost("a100", { model: "A100 80GB" }),
    gpuHost("busy", { gpuUse: pass }),
  ];
  it.each([
    ["no GPU demand: filter off", undefined, null],
    ["any model", { kind: "passthrough", count: 4 }, ["h100", "a100", "busy"]],
    ["model set", { kind: "passthrough", count: 1, models: ["A100 80GB", "L40S"] }, ["a100"]],
    ["9 GPUs: never", { kind: "passthrough", count: 9 }, []],
  ] as const)("model: %s", (_n, gpu, expected) => {
    const req = vmRequest(gpu === undefined ? {} : { gpu });
    const out = runFilter(new GpuModelFilter(), fleet(hosts), req);
    expect(out === null ? null : out.filter((o) => o.pass).map((o) => o.host)).toEqual(expected);
  });
  it.each([
    ["4 free", 4, ["h100", "a100"]],
    ["2 free on busy", 2, ["h100", "a100", "busy"]],
  ] as const)("capacity: %s", (_n, count, expected) => {
    expect(passing(new GpuCapacityFilter(), fleet(hosts), vmRequest({ gpu: { kind: "passthrough", count } }))).toEqual(expected);
  });
  it("explains GPU shortage as resolvable, model absence as not", () => {
    const req = vmRequest({ gpu: { kind: "passthrough", count: 4, models: ["H100 80GB"] } });
    const cap = runFilter(new GpuCapacityFilter(), fleet(hosts), req)!;
    expect(cap[3]!.verdict).toEqual({ code: "gpu_capacity", reason: "needs 4 x H100 80GB, 2 free", unresolvable: false });
    const model = runFilter(new GpuModelFilter(), fleet(hosts), req)!;
    expect(model[2]!.verdict?.unresolvable).toBe(true);
  });
  it("requireLocality: N GPUs on one NUMA node or NVLink domain", () => {
    // 8 GPUs on 2 NUMA nodes, no NVLink; GPUs 0,1,4,5 taken: 2 free per node.
    const used = new Set([0, 1, 4, 5]);
    const split = gpuHost("split", { nvlinkDomainOf: null, gpuUse: (i) => (used.has(i) ? { kind: "passthrough" } : { kind: "free" }) });
    const req = vmRequest({ gpu: { kind: "passthrough", count: 4, models: ["H100 80GB"], requireLocality: true } });
    const out = runFilter(new GpuCapacityFilter(), fleet([split, gpuHost("whole", { nvlinkDomainOf: null })]), req)!;
    expect(out.map((o) => o.pass)).toEqual([false, true]);
    expect(out[0]!.verdict?.reason).toBe("needs 4 x H100 80GB on one NUMA node or NVLink domain, 2 free on one");
  });

  const types = [
    { name: "T-4Q", maxInstances: 4 },
    { name: "T-8Q", maxInstances: 2 },
    { name: "MIG-1", maxInstances: 7, migSlices: 1 },
    { name: "MIG-3", maxInstances: 2, migSlices: 3 },
  ];
  const oneGpu = (use: Parameters<typeof gpuHost>[1] extends infer O ? O : never) =>
    gpuHost("x", { gpuCount: 1, numaNodes: 1, vgpuTypes: types, migSlices: 7, ...use });
  it.each([
    ["free GPU takes any type", { kind: "free" }, "T-4Q", true],
    ["same time-sliced type with room", { kind: "vgpu", instances: [{ vgpuType: "T-4Q", count: 3 }] }, "T-4Q", true],
    ["same type, full", { kind: "vgpu", instances: [{ vgpuType: "T-4Q", count: 4 }] }, "T-4Q", false],
    ["homogeneous: other time-sliced type refused", { kind: "vgpu", instances: [{ vgpuType: "T-4Q", count: 1 }] }, "T-8Q", false],
    ["passthrough GPU hosts no vGPU", { kind: "passthrough" }, "T-4Q", false],
    ["shared GPU hosts no vGPU", { kind: "share", milliUsed: 100 }, "T-4Q", false],
    ["MIG types mix within slices", { kind: "vgpu", instances: [{ vgpuType: "MIG-3", count: 1 }, { vgpuType: "MIG-1", count: 3 }] }, "MIG-1", true],
    ["MIG slices exhausted", { kind: "vgpu", instances: [{ vgpuType: "MIG-3", count: 2 }] }, "MIG-3", false],
    ["MIG slices left for a 1-slice type", { kind: "vgpu", instances: [{ vgpuType: "MIG-3", count: 2 }] }, "MIG-1", true],
    ["MIG type on a time-sliced GPU refused", { kind: "vgpu", instances: [{ vgpuType: "T-4Q", count: 1 }] }, "MIG-1", false],
    ["unsupported type", { kind: "free" }, "NOPE", false],
  ] as const)("vGPU: %s", (_n, use, vgpuType, fits) => {
    const snap = fleet([oneGpu({ gpuUse: () => use as never })]);
    const req = vmRequest({ gpu: { kind: "vgpu", vgpuType } });
    const ok = passing(new GpuModelFilter(), snap, req).length === 1 && passing(new GpuCapacityFilter(), snap, req).length === 1;
    expect(ok).toBe(fits);
  });
  it.each([
    ["free GPU", { kind: "free" }, 700, true],
    ["room on a shared GPU", { kind: "share", milliUsed: 300 }, 700, true],
    ["not enough left", { kind: "share", milliUsed: 301 }, 700, false],
    ["vGPU GPU takes no share", { kind: "vgpu", instances: [{ vgpuType: "T-4Q", count: 1 }] }, 100, false],
  ] as const)("share: %s", (_n, use, milli, fits) => {
    const snap = fleet([oneGpu({ gpuUse: () => use as never })]);
    expect(passing(new GpuCapacityFilter(), snap, vmRequest({ gpu: { kind: "share", milli } })).length === 1).toBe(fits);
  });
  it("GPUs that disallow shares are never used for them", () => {
    const h = oneGpu({});
    const snap = fleet([{ ...h, gpus: h.gpus!.map((g) => ({ ...g, allowShares: false })) }]);
    expect(passing(new GpuModelFilter(), snap, vmRequest({ gpu: { kind: "share", milli: 100 } }))).toEqual([]);
  });
});

describe("AffinityFilter", () => {
  const vm = (vmId: string, groups: string[]) => ({ vmId, accountId: "a1", affinityGroupIds: groups });
  const hosts = [cpuHost("a", { vms: [vm("v1", ["anti", "aff"])] }), cpuHost("b", { vms: [vm("v2", ["anti"])] }), cpuHost("c")];
  const group = (id: string, kind: "host-affinity" | "host-anti-affinity", strict = true) => ({ id, kind, strict });
  table(new AffinityFilter(), [
    { name: "strict anti-affinity: hosts without members", hosts, request: { affinityGroups: [group("anti", "host-anti-affinity")] }, pass: ["c"] },
    { name: "strict affinity: hosts with members", hosts, request: { affinityGroups: [group("aff", "host-affinity")] }, pass: ["a"] },
    { name: "affinity group without members: anywhere", hosts, request: { affinityGroups: [group("new", "host-affinity")] }, pass: ["a", "b", "c"] },
    { name: "non-strict: not a filter", hosts, request: { affinityGroups: [group("anti", "host-anti-affinity", false)] }, pass: ["a", "b", "c"] },
    {
      name: "member hosts from the request",
      hosts,
      request: { affinityGroups: [{ ...group("g", "host-anti-affinity"), memberHostIds: ["c"] }] },
      pass: ["a", "b"],
    },
  ]);
  it("earlier VMs of the same request count as members", () => {
    const req = vmRequest({ affinityGroups: [group("new", "host-anti-affinity")] });
    expect(passing(new AffinityFilter(), fleet(hosts), req, { placedOn: ["a", "c"] })).toEqual(["b"]);
  });
});
