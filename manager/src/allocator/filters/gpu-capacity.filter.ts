import { bestLocalFit, bestModelCount, fitCount, largestLocalGroup } from "../gpu/gpu-fit.js";
import type { Filter, FilterCheck, PlacementContext } from "../plugin.js";
import { describeDemand } from "../gpu/gpu-demand.js";

/**
 * Free GPU capacity for the demand: N free GPUs of one allowed model (on one NUMA node or
 * NVLink domain when the request requires locality), or one GPU that can take the vGPU type
 * (homogeneous time-sliced types, MIG slices) or the fractional share.
 */
export class GpuCapacityFilter implements Filter {
  static readonly NAME = "gpu-capacity";
  readonly name = GpuCapacityFilter.NAME;
  readonly static = false;

  prepare({ request }: PlacementContext): FilterCheck | null {
    const demand = request.gpu;
    if (demand === undefined) return null;
    if (demand.kind === "passthrough") {
      const n = demand.count;
      const local = demand.requireLocality === true && n > 1;
      return {
        test: (h) => {
          if (h.gpusFree < n || fitCount(h, demand, false) < n) return false;
          return !local || bestLocalFit(h, demand, bestModelCount(h, demand, false).model, n) !== null;
        },
        explain: (h) => {
          const best = bestModelCount(h, demand, false);
          if (best.count >= n && local) {
            const largest = largestLocalGroup(h, demand, best.model);
            return {
              code: "gpu_locality",
              reason: `needs ${describeDemand(demand)} on one NUMA node or NVLink domain, ${largest} free on one`,
              unresolvable: false,
            };
          }
          return { code: "gpu_capacity", reason: `needs ${describeDemand(demand)}, ${best.count} free`, unresolvable: false };
        },
      };
    }
    return {
      test: (h) => fitCount(h, demand, false) >= 1,
      explain: () => ({
        code: "gpu_capacity",
        reason: demand.kind === "vgpu"
          ? `needs ${describeDemand(demand)}: no GPU is free or hosts that type with room`
          : `needs ${describeDemand(demand)}: no GPU has that much free`,
        unresolvable: false,
      }),
    };
  }
}
