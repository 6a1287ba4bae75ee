import { describe, expect, it } from "vitest";
import { simulatedGpus } from "../drivers/simulator/simulated-gpus.js";
import { buildFleet, kindCounts, parseMix, simHostUuid } from "./fleet-mix.js";

describe("parseMix", () => {
  it.each([
    ["cpu:70,h100:15,a100:10,vgpu:5", [["cpu", 70], ["h100", 15], ["a100", 10], ["vgpu", 5]]],
    [" cpu:1 , h100:0.5 ", [["cpu", 1], ["h100", 0.5]]],
    ["h100:1", [["h100", 1]]],
  ])("reads %s", (text, want) => {
    expect([...parseMix(text)]).toEqual(want);
  });

  it.each([
    ["cpu", /not KIND:WEIGHT/],
    ["cpu:-1", /not KIND:WEIGHT/],
    ["tpu:3", /unknown host kind "tpu"/],
    ["cpu:1,cpu:2", /named twice/],
    ["cpu:0", /no host kind has a weight above 0/],
    ["", /no host kind/],
  ])("refuses %j", (text, err) => {
    expect(() => parseMix(text)).toThrow(err);
  });
});

describe("kindCounts", () => {
  it.each([
    [100, "cpu:70,h100:15,a100:10,vgpu:5", { cpu: 70, h100: 15, a100: 10, vgpu: 5 }],
    [10, "cpu:1,h100:1,a100:1", { cpu: 4, h100: 3, a100: 3 }],
    [3, "cpu:70,h100:15,a100:10,vgpu:5", { cpu: 2, h100: 1, a100: 0, vgpu: 0 }],
    [0, "cpu:1", { cpu: 0 }],
  ])("%i hosts of %s", (n, mix, want) => {
    const c = kindCounts(n, parseMix(mix));
    expect(Object.fromEntries(c)).toEqual(want);
    expect([...c.values()].reduce((a, b) => a + b, 0)).toBe(n);
  });
});

describe("buildFleet", () => {
  it("gives the same hosts for a seed and other UUIDs for another", () => {
    const a = buildFleet({ count: 50, seed: 7 });
    expect(buildFleet({ count: 50, seed: 7 })).toEqual(a);
    const b = buildFleet({ count: 50, seed: 8 });
    expect(b.map((h) => h.uuid)).not.toEqual(a.map((h) => h.uuid));
    expect(new Set(a.map((h) => h.uuid)).size).toBe(50);
    expect(new Set(a.map((h) => h.hostname)).size).toBe(50);
  });

  it("shapes HGX hosts as 8 NVLinked GPUs split over 2 NUMA nodes, and vGPU hosts with profiles", () => {
    const fleet = buildFleet({ count: 40, mix: "h100:1,a100:1,vgpu:1,cpu:1", seed: 1 });
    const h100 = fleet.find((h) => h.kind === "h100")!;
    const gpus = simulatedGpus(h100.uuid, h100.gpus, h100.numaCells);
    expect(gpus).toHaveLength(8);
    expect(gpus.every((g) => g.nvlinkPeers.length === 7 && g.virtualizationMode === "passthrough")).toBe(true);
    expect(gpus.map((g) => g.numaNode)).toEqual([0, 0, 0, 0, 1, 1, 1, 1]);
    const vgpu = fleet.find((h) => h.kind === "vgpu")!;
    const vg = simulatedGpus(vgpu.uuid, vgpu.gpus, vgpu.numaCells);
    expect(vg).toHaveLength(4);
    expect(vg.every((g) => g.virtualizationMode === "vgpu_host" && g.nvlinkPeers.length === 0 && g.vgpuTypes.length === 3)).toBe(true);
    expect(vg.map((g) => g.numaNode)).toEqual([0, 0, 1, 1]);
    expect(fleet.find((h) => h.kind === "cpu")!.gpus).toEqual([]);
  });

  it("refuses a count that is not a whole number", () => {
    expect(() => buildFleet({ count: 1.5, seed: 1 })).toThrow(/count: 1.5/);
  });
});

describe("simHostUuid", () => {
  it("is a version 4 layout UUID", () => {
    expect(simHostUuid(1, 0)).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });
});
