import { describe, expect, it } from "vitest";
import { InvalidArgumentError } from "#shared/errors.js";
import { ALLOCATOR_SETTINGS, buildPolicy, DEFAULT_FILTERS, defaultPolicy, policyConfigFromSettings, rejectionError } from "./index.js";

describe("buildPolicy", () => {
  it.each([
    [{ algorithm: "bestfit" }, "vm.allocation.algorithm", /unknown allocation algorithm "bestfit"/],
    [{ mode: "diagonal" }, "vm.allocation.mode", /unknown allocation mode "diagonal"/],
    [{ filters: "scope,host-state,cpu-capacity,memory-capacity,gpu-capacity,nope" }, "orbit.allocator.filters", /unknown filter "nope"/],
    [{ filters: "scope,host-state,cpu-capacity,gpu-capacity" }, "orbit.allocator.filters", /memory-capacity are required/],
    [{ scorers: "random:1,bogus:2" }, "orbit.allocator.scorers", /unknown scorer "bogus"/],
    [{ scorers: "random:x" }, "orbit.allocator.scorers", /bad scorer weight "random:x"/],
    [{ cpuOverprovisioning: 0 }, "cpu.overprovisioning.factor", /must be a number/],
    [{ cpuDisableThreshold: 1.5 }, "cluster.cpu.allocated.capacity.disablethreshold", /must be a number in \(0, 1\]/],
  ])("rejects %j naming the setting", (config, field, message) => {
    let err: unknown;
    try {
      buildPolicy(config);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(InvalidArgumentError);
    expect((err as InvalidArgumentError).field).toBe(field);
    expect((err as Error).message).toMatch(message);
  });

  it("orders filters as configured and scorers by weight, with the algorithm's", () => {
    const p = buildPolicy({ algorithm: "userdispersing", filters: "host-state,scope,cpu-capacity,memory-capacity,gpu-capacity", scorers: "os-type:3,random:0" });
    expect(p.filters.map((f) => f.name)).toEqual(["host-state", "scope", "cpu-capacity", "memory-capacity", "gpu-capacity"]);
    expect(p.scorers.map((s) => [s.scorer.name, s.weight])).toEqual([["os-type", 3], ["userdispersing", 0.5]]);
    expect(p.name).toBe("userdispersing/vertical");
  });

  it("the default policy has every default filter and the GPU-aware scorers", () => {
    expect(defaultPolicy.filters.map((f) => f.name)).toEqual(DEFAULT_FILTERS);
    expect(defaultPolicy.scorers.map((s) => s.scorer.name)).toEqual(expect.arrayContaining(["gpu-locality", "gpu-fragmentation", "gpu-resource-balance", "gpu-packing-order", "vgpu-packing", "gpu-hosts-last"]));
  });
});

describe("settings", () => {
  it("every setting's default builds the default policy", () => {
    const values = Object.fromEntries(ALLOCATOR_SETTINGS.map((s) => [s.name, s.default]));
    const p = buildPolicy(policyConfigFromSettings(values));
    expect(p.config).toEqual(defaultPolicy.config);
  });
  it("maps setting values (strings from the settings table) to the config", () => {
    const p = buildPolicy(policyConfigFromSettings({ "vm.allocation.algorithm": "random", "cpu.overprovisioning.factor": "4", "vm.strict.host.tags": "a, b" }));
    expect([p.config.algorithm, p.config.cpuOverprovisioning, p.config.strictHostTags]).toEqual(["random", 4, ["a", "b"]]);
  });
});

describe("rejectionError", () => {
  it("is InsufficientCapacity, retryable only when capacity is the problem", () => {
    const now = rejectionError({ message: "m", vmIndex: 0, unschedulable: "now", hosts: [] });
    const never = rejectionError({ message: "m", vmIndex: 0, unschedulable: "never", hosts: [] });
    expect([now.code, now.retryable, never.retryable]).toEqual(["insufficient_capacity", true, false]);
    expect(never.details).toMatchObject({ unschedulable: "never" });
  });
});
