// Building the answer to "why can this not be placed": every host in scope order with the first
// filter (in the policy's order) that refused it and why, and whether waiting could help.

import type { FleetHost } from "./fleet.js";
import { describeDemand } from "./gpu/gpu-demand.js";
import type { PreparedFilter } from "./stage.js";
import type { AllocationPolicy } from "./policy-types.js";
import type { HostRefusal, PlacementRejection, PlacementRequest } from "./types.js";

export function explainRejection(
  request: PlacementRequest,
  count: number,
  vmIndex: number,
  hosts: readonly FleetHost[],
  policy: AllocationPolicy,
  staticChecks: readonly PreparedFilter[],
  dynamicChecks: readonly PreparedFilter[],
): PlacementRejection {
  // The policy's filter order, static and dynamic interleaved as configured.
  const byFilter = new Map<string, PreparedFilter>();
  for (const c of [...staticChecks, ...dynamicChecks]) byFilter.set(c.filter.name, c);
  const ordered = policy.filters.map((f) => byFilter.get(f.name)).filter((c): c is PreparedFilter => c !== undefined);

  const refusals: HostRefusal[] = [];
  for (const h of hosts) {
    for (const { filter, check } of ordered) {
      if (check.test(h)) continue;
      const v = check.explain(h);
      refusals.push({ hostId: h.src.id, hostName: h.src.name, filter: filter.name, reason: v.reason, code: v.code, unresolvable: v.unresolvable });
      break;
    }
  }
  // Earlier VMs of this request took capacity: retrying with a smaller count could work.
  const never = vmIndex === 0 && refusals.every((r) => r.unresolvable);
  const tally = new Map<string, number>();
  for (const r of refusals) tally.set(r.filter, (tally.get(r.filter) ?? 0) + 1);
  const summary = [...tally].sort((a, b) => b[1] - a[1]).map(([f, n]) => `${f}: ${n}`).join(", ");
  const what = `${request.vcpus} vCPU, ${request.memoryMib} MiB${request.gpu ? `, ${describeDemand(request.gpu)}` : ""}`;
  const which = count > 1 ? `VM ${vmIndex + 1} of ${count}` : "the VM";
  const message =
    hosts.length === 0
      ? `No hosts to place ${which} (${what}) on`
      : `No host can take ${which} (${what}): ${refusals.length} host${refusals.length === 1 ? "" : "s"} refused (${summary})`;
  return { message, vmIndex, unschedulable: never ? "never" : "now", hosts: refusals };
}

/** One line per host, e.g. "host h12: gpu-capacity: needs 4 x H100 80GB, 2 free". */
export function formatRefusals(rejection: PlacementRejection): string[] {
  return rejection.hosts.map((r) => `host ${r.hostName}: ${r.filter}: ${r.reason}`);
}
