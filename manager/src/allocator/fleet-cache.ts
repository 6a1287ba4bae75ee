// The index of a snapshot is derived data: built on first use and remembered per snapshot
// object (and capacity defaults). `applyPlan` hands the index of the old snapshot over to the
// new one, changed only where the plan placed VMs, so streaming placements (benchmarks, trace
// replay) do not rebuild it each time. Callers never see it; snapshots stay immutable.

import { buildFleet, type CapacityDefaults, type Fleet } from "./fleet.js";
import type { FleetSnapshot } from "./types.js";

const cache = new WeakMap<FleetSnapshot, Fleet>();

function sameDefaults(a: CapacityDefaults, b: CapacityDefaults): boolean {
  return a.cpuOverprovisioning === b.cpuOverprovisioning && a.memoryOverprovisioning === b.memoryOverprovisioning;
}

export function fleetFor(snapshot: FleetSnapshot, defaults: CapacityDefaults): Fleet {
  const hit = cache.get(snapshot);
  if (hit !== undefined && sameDefaults(hit.defaults, defaults)) return hit;
  const fleet = buildFleet(snapshot, {
    cpuOverprovisioning: defaults.cpuOverprovisioning,
    memoryOverprovisioning: defaults.memoryOverprovisioning,
  });
  cache.set(snapshot, fleet);
  return fleet;
}

/** Moves the cached index (if any) from `from` to `to`; the caller then updates it in place. */
export function takeFleet(from: FleetSnapshot, to: FleetSnapshot): Fleet | undefined {
  const fleet = cache.get(from);
  if (fleet === undefined) return undefined;
  cache.delete(from);
  cache.set(to, fleet);
  return fleet;
}
