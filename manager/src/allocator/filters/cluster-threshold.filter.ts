import type { Filter, FilterCheck, PlacementContext } from "../plugin.js";

/**
 * CloudStack's `cluster.cpu.allocated.capacity.disablethreshold` and
 * `cluster.memory.allocated.capacity.disablethreshold`: no new VM goes into a cluster whose
 * allocated share (with this VM) would pass the threshold.
 */
export class ClusterThresholdFilter implements Filter {
  static readonly NAME = "cluster-threshold";
  readonly name = ClusterThresholdFilter.NAME;
  readonly static = false;

  prepare({ request, clusters, config }: PlacementContext): FilterCheck {
    // Decided per cluster on first need (0 unknown, 1 open, 2 past the threshold).
    const state = new Uint8Array(clusters.length);
    const reason = (ci: number): string | null => {
      const c = clusters[ci]!;
      const cpuLimit = c.src?.cpuDisableThreshold ?? config.cpuDisableThreshold;
      const memLimit = c.src?.memoryDisableThreshold ?? config.memoryDisableThreshold;
      const cpuShare = c.cpuCapacity > 0 ? (c.cpuUsed + request.vcpus) / c.cpuCapacity : Infinity;
      const memShare = c.memCapacity > 0 ? (c.memUsed + request.memoryMib) / c.memCapacity : Infinity;
      if (cpuShare > cpuLimit) return `cluster ${c.id} CPU would be ${pct(cpuShare)} allocated, threshold ${pct(cpuLimit)}`;
      if (memShare > memLimit) return `cluster ${c.id} memory would be ${pct(memShare)} allocated, threshold ${pct(memLimit)}`;
      return null;
    };
    return {
      test: (h) => {
        const ci = h.clusterIndex;
        let s = state[ci]!;
        if (s === 0) state[ci] = s = reason(ci) === null ? 1 : 2;
        return s === 1;
      },
      explain: (h) => ({ code: "cluster_threshold", reason: reason(h.clusterIndex) ?? "", unresolvable: false }),
    };
  }
}

function pct(x: number): string {
  return Number.isFinite(x) ? `${Math.round(x * 100)}%` : "∞";
}
