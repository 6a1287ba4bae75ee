// The engine's cached rankings and branch-and-bound walk must choose exactly the host a naive
// full scan of every filter and scorer chooses, on long streams with every kind of request.

import { describe, expect, it } from "vitest";
import { applyPlan, buildPolicy, CLOUDSTACK_SCORER_WEIGHTS, defaultPolicy, place, type FleetSnapshot } from "./index.js";
import { referenceHost } from "./testing/reference-place.js";
import { syntheticFleet, syntheticRequests } from "./testing/synthetic-fleet.js";

const policies = {
  default: defaultPolicy,
  horizontal: buildPolicy({ mode: "horizontal" }),
  random: buildPolicy({ algorithm: "random" }),
  userdispersing: buildPolicy({ algorithm: "userdispersing" }),
  userconcentratedpod_random: buildPolicy({ algorithm: "userconcentratedpod_random" }),
  firstfitleastconsumed: buildPolicy({ algorithm: "firstfitleastconsumed", scorers: CLOUDSTACK_SCORER_WEIGHTS }),
  cloudstackFirstfit: buildPolicy({ algorithm: "firstfit", scorers: CLOUDSTACK_SCORER_WEIGHTS }),
  // Fragmentation ranked by its bound and refined on the walk, with nothing above it.
  fragmentation: buildPolicy({ algorithm: "firstfit", mode: "horizontal", scorers: { "gpu-fragmentation": 4, "gpu-packing-order": 1 } }),
  // Resource balance likewise, against a workload that asks much CPU per GPU (so it matters).
  balance: buildPolicy({ algorithm: "firstfit", mode: "horizontal", scorers: { "gpu-resource-balance": 4, "gpu-packing-order": 1 } }),
};

/** GPU VMs asking 24-64 vCPUs per GPU: the synthetic fleet's busy GPU hosts run short of CPU for them. */
const CPU_HEAVY_WORKLOAD = [24, 48, 64].flatMap((vcpus) => [1, 2, 4].map((gpuCount) => ({
  vcpus: vcpus * gpuCount, memoryMib: vcpus * gpuCount * 4096, gpuCount, gpuMilli: 1000, weight: 1,
})));

describe("engine = full scan", () => {
  it.each(Object.keys(policies))("%s: same host as a full scan for 600 streamed requests", (name) => {
    const policy = policies[name as keyof typeof policies];
    // Small, busy fleet: many rejections and changed hosts on the way.
    let snap: FleetSnapshot = syntheticFleet({ hosts: 60, seed: 3, accounts: 20, vmsPerHost: 14 });
    if (name === "balance") snap = { ...snap, gpuWorkload: CPU_HEAVY_WORKLOAD };
    const orderOnly = buildPolicy({ algorithm: "firstfit", mode: "horizontal", scorers: { "gpu-packing-order": 1 } });
    let differs = 0;
    const requests = syntheticRequests(600, 11, 20).map((r) => ({ ...r, vcpus: r.vcpus * 2 }));
    let placed = 0;
    for (const [i, r] of requests.entries()) {
      const expected = referenceHost(snap, r, policy, i);
      const res = place(snap, r, { seed: i, now: new Date(0), policy });
      expect(res.ok ? res.plan.placements[0]!.hostId : null, `request ${i}`).toBe(expected);
      if (name === "balance" && res.ok && res.plan.placements[0]!.hostId !== referenceHost(snap, r, orderOnly, i)) differs++;
      if (res.ok) {
        snap = applyPlan(snap, r, res.plan);
        placed++;
      }
    }
    expect(placed).toBeGreaterThan(100);
    expect(placed).toBeLessThan(600);
    if (name === "balance") expect(differs).toBeGreaterThan(20); // the scorer did steer placements
  });
});
