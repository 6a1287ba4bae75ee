import { describe, expect, it } from "vitest";
import { defaultPolicy } from "./policy.js";
import { stockAvailable, stockCount, type StockPolicy, type StockShape } from "./stock.js";
import { cpuHost, fleet, gpuHost } from "./testing/fleet-builder.js";

const defaults: StockPolicy = { ...defaultPolicy.config, cpuDisableThreshold: 1, memoryDisableThreshold: 1 };
const small: StockShape = { vcpus: 4, memoryMib: 8 * 1024 };
const h100x2: StockShape = { vcpus: 8, memoryMib: 64 * 1024, gpu: { kind: "passthrough", count: 2, models: ["H100 80GB"] } };
const l40s: StockShape = { vcpus: 8, memoryMib: 64 * 1024, gpu: { kind: "passthrough", count: 1, models: ["L40S"] } };

describe("stockAvailable", () => {
  it("answers per shape from free CPU, memory and GPUs of the right model", () => {
    const snap = fleet([cpuHost("c1"), gpuHost("g1", { gpuCount: 2 })]);
    expect(stockAvailable(snap, [small, h100x2, l40s], defaults)).toEqual([true, true, false]);
  });

  it("is out of stock when the hosts are full, down or disabled, or lack the tags", () => {
    const full = cpuHost("c1", { cpu: { total: 64, allocated: 62 } });
    const down = cpuHost("c2", { status: "Down" });
    const disabled = cpuHost("c3", { resourceState: "Maintenance" });
    const busyGpus = gpuHost("g1", { gpuCount: 2, gpuUse: (i) => (i === 0 ? { kind: "passthrough", vmId: "v1" } : { kind: "free" }) });
    expect(stockAvailable(fleet([full, down, disabled, busyGpus]), [{ ...small, hostTags: ["ssd"] }, h100x2], defaults))
      .toEqual([false, false]);
    expect(stockAvailable(fleet([cpuHost("c4", { tags: ["ssd"] })]), [{ ...small, hostTags: ["ssd"] }], defaults)).toEqual([true]);
  });

  it("counts over-provisioned CPU", () => {
    const snap = fleet([cpuHost("c1", { cpu: { total: 2, allocated: 0 } })]);
    expect(stockAvailable(snap, [small], defaults)).toEqual([false]);
    expect(stockAvailable(snap, [small], { ...defaults, cpuOverprovisioning: 2 })).toEqual([true]);
  });

  it("keeps to the clusters' disable thresholds when the policy filters on them", () => {
    const snap = fleet([cpuHost("c1", { cpu: { total: 8, allocated: 0 } })]);
    const eight: StockShape = { vcpus: 8, memoryMib: 1024 };
    expect(stockAvailable(snap, [eight, small], { ...defaults, cpuDisableThreshold: 0.85 })).toEqual([false, true]);
    expect(stockAvailable(snap, [eight], { ...defaults, cpuDisableThreshold: 0.85, filters: defaults.filters.filter((f) => f !== "cluster-threshold") }))
      .toEqual([true]);
  });
});

describe("stockCount", () => {
  it("adds up, per shape, how many fit on each Up and Enabled host (CPU, memory, whole GPUs of the model)", () => {
    const snap = fleet([
      cpuHost("c1"), // 64 CPUs, 256 GiB: 16 of small
      cpuHost("c2", { cpu: { total: 64, allocated: 60 } }), // 1 of small
      cpuHost("c3", { status: "Down" }),
      gpuHost("g1"), // 192 CPUs, 2 TiB, 8 H100: 48 of small, 4 of h100x2
    ]);
    expect(stockCount(snap, [small, h100x2, l40s], defaults)).toEqual([16 + 1 + 48, 4, 0]);
  });

  it("stops at the clusters' disable thresholds when the policy filters on them", () => {
    const snap = fleet([cpuHost("c1", { cpu: { total: 8, allocated: 0 } })]);
    expect(stockCount(snap, [small], defaults)).toEqual([2]);
    expect(stockCount(snap, [small], { ...defaults, cpuDisableThreshold: 0.85 })).toEqual([1]);
  });
});
