// Whether one more VM of each shape fits somewhere now (a catalogue's "in stock"), in one pass
// over the snapshot's hosts with the capacity filters' own arithmetic. It is an estimate for
// listings, not a placement: affinity, cluster thresholds and GPU locality are left to the
// placement itself, which stays the only answer a create gets.
import { fleetFor } from "./fleet-cache.js";
import type { CapacityDefaults, FleetHost } from "./fleet.js";
import { fitCount } from "./gpu/gpu-fit.js";
import type { FleetSnapshot, GpuDemand } from "./types.js";

export interface StockShape {
  vcpus: number;
  memoryMib: number;
  hostTags?: readonly string[];
  cpuType?: string;
  gpu?: GpuDemand;
}

function fits(h: FleetHost, s: StockShape): boolean {
  if (h.cpuFree < s.vcpus || h.memFree < s.memoryMib) return false;
  if (s.hostTags && s.hostTags.some((t) => !h.src.tags.includes(t))) return false;
  if (s.cpuType && (h.src.cpuType ?? "").toLowerCase() !== s.cpuType.toLowerCase()) return false;
  const d = s.gpu;
  if (d === undefined) return true;
  if (d.kind === "passthrough") return h.gpusFree >= d.count && fitCount(h, d, false) >= d.count;
  return fitCount(h, d, false) >= 1;
}

/** Per shape (same order), whether some Up and Enabled host has room for one more now. */
export function stockAvailable(snapshot: FleetSnapshot, shapes: readonly StockShape[], defaults: CapacityDefaults): boolean[] {
  const found = shapes.map(() => false);
  let left = shapes.length;
  for (const h of fleetFor(snapshot, defaults).hosts) {
    if (left === 0) break;
    if (h.src.status !== "Up" || h.src.resourceState !== "Enabled") continue;
    for (let i = 0; i < shapes.length; i++) {
      if (!found[i] && fits(h, shapes[i]!)) { found[i] = true; left--; }
    }
  }
  return found;
}
