// Whether one more VM of each shape fits somewhere now (a catalogue's "in stock"), in one pass
// over the snapshot's hosts with the capacity filters' own arithmetic (CPU, memory, GPUs, tags,
// CPU type, host state, cluster thresholds). It is an estimate for listings, not a placement:
// affinity and GPU locality are left to the placement itself, which stays the only answer a
// create gets.
import { ClusterThresholdFilter } from "./filters/cluster-threshold.filter.js";
import { fleetFor } from "./fleet-cache.js";
import type { ClusterState, FleetHost } from "./fleet.js";
import { fitCount } from "./gpu/gpu-fit.js";
import type { ResolvedPolicyConfig } from "./policy-config.js";
import type { FleetSnapshot, GpuDemand } from "./types.js";

export interface StockShape {
  vcpus: number;
  memoryMib: number;
  hostTags?: readonly string[];
  cpuType?: string;
  gpu?: GpuDemand;
}

/** What of the policy the estimate reads. */
export type StockPolicy = Pick<ResolvedPolicyConfig,
  "cpuOverprovisioning" | "memoryOverprovisioning" | "cpuDisableThreshold" | "memoryDisableThreshold" | "filters">;

function underThresholds(c: ClusterState, s: StockShape, p: StockPolicy): boolean {
  const cpuLimit = c.src?.cpuDisableThreshold ?? p.cpuDisableThreshold;
  const memLimit = c.src?.memoryDisableThreshold ?? p.memoryDisableThreshold;
  return c.cpuCapacity > 0 && c.memCapacity > 0
    && (c.cpuUsed + s.vcpus) / c.cpuCapacity <= cpuLimit && (c.memUsed + s.memoryMib) / c.memCapacity <= memLimit;
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
export function stockAvailable(snapshot: FleetSnapshot, shapes: readonly StockShape[], policy: StockPolicy): boolean[] {
  const found = shapes.map(() => false);
  let left = shapes.length;
  const fleet = fleetFor(snapshot, policy);
  const thresholds = policy.filters.includes(ClusterThresholdFilter.NAME);
  for (const h of fleet.hosts) {
    if (left === 0) break;
    if (h.src.status !== "Up" || h.src.resourceState !== "Enabled") continue;
    const cluster = fleet.clusters[h.clusterIndex]!;
    for (let i = 0; i < shapes.length; i++) {
      const s = shapes[i]!;
      if (!found[i] && fits(h, s) && (!thresholds || underThresholds(cluster, s, policy))) { found[i] = true; left--; }
    }
  }
  return found;
}

/** How many VMs of the shape one host has room for now (GPU shapes: whole GPUs of one model for passthrough, one per GPU otherwise). */
function hostRoom(h: FleetHost, s: StockShape): number {
  if (!fits(h, s)) return 0;
  let n = Math.min(Math.floor(h.cpuFree / s.vcpus), Math.floor(h.memFree / s.memoryMib));
  const d = s.gpu;
  if (d?.kind === "passthrough") n = Math.min(n, Math.floor(Math.min(h.gpusFree, fitCount(h, d, false)) / d.count));
  else if (d) n = Math.min(n, fitCount(h, d, false));
  return n;
}

/** How many VMs of the shape a cluster's thresholds still allow. */
function clusterRoom(c: ClusterState, s: StockShape, p: StockPolicy): number {
  const cpuLimit = c.src?.cpuDisableThreshold ?? p.cpuDisableThreshold;
  const memLimit = c.src?.memoryDisableThreshold ?? p.memoryDisableThreshold;
  if (c.cpuCapacity <= 0 || c.memCapacity <= 0) return 0;
  return Math.max(0, Math.min(Math.floor((cpuLimit * c.cpuCapacity - c.cpuUsed) / s.vcpus), Math.floor((memLimit * c.memCapacity - c.memUsed) / s.memoryMib)));
}

/**
 * Per shape (same order), about how many more VMs of it fit now, each counted alone (an estimate
 * for quotas, with stockAvailable's arithmetic: no placement, vGPUs and shares counted one per GPU).
 */
export function stockCount(snapshot: FleetSnapshot, shapes: readonly StockShape[], policy: StockPolicy): number[] {
  const fleet = fleetFor(snapshot, policy);
  const thresholds = policy.filters.includes(ClusterThresholdFilter.NAME);
  return shapes.map((s) => {
    const perCluster = new Map<number, number>();
    for (const h of fleet.hosts) {
      if (h.src.status !== "Up" || h.src.resourceState !== "Enabled") continue;
      perCluster.set(h.clusterIndex, (perCluster.get(h.clusterIndex) ?? 0) + hostRoom(h, s));
    }
    let total = 0;
    for (const [i, n] of perCluster) total += thresholds ? Math.min(n, clusterRoom(fleet.clusters[i]!, s, policy)) : n;
    return total;
  });
}
