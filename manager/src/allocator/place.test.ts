import { describe, expect, it } from "vitest";
import { buildPolicy, defaultPolicy, place } from "./index.js";
import { cpuHost, fleet, gpuHost, vmRequest } from "./testing/fleet-builder.js";

const opts = { seed: 1, now: new Date(0), policy: defaultPolicy };

describe("place (smoke)", () => {
  it("places a CPU VM on a CPU host before a GPU host", () => {
    const snap = fleet([gpuHost("g1"), cpuHost("c1")]);
    const res = place(snap, vmRequest(), opts);
    expect(res.ok && res.plan.placements[0]!.hostId).toBe("c1");
  });

  it("rejects with a reason per host", () => {
    const snap = fleet([cpuHost("h1"), cpuHost("h2", { environment: "env2" })]);
    const res = place(snap, vmRequest({ vcpus: 128 }), opts);
    expect(res.ok).toBe(false);
    if (res.ok) return;
    expect(res.rejection.hosts.map((h) => [h.hostId, h.filter])).toEqual([["h1", "cpu-capacity"], ["h2", "scope"]]);
    expect(res.rejection.unschedulable).toBe("never");
  });

  it("buildPolicy throws on an unknown scorer", () => {
    expect(() => buildPolicy({ scorers: "nope:1" })).toThrow(/unknown scorer "nope"/);
  });
});
