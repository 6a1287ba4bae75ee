import { demandKey, describeDemand } from "../gpu/gpu-demand.js";
import { fitCount, gpusNeeded } from "../gpu/gpu-fit.js";
import type { Filter, FilterCheck, PlacementContext } from "../plugin.js";
import type { PlacementRequest } from "../types.js";

/**
 * The host has enough GPUs of an allowed model that could ever serve the demand (supporting
 * the vGPU type, allowing shares). Static: whether they are free is the gpu-capacity filter's job.
 */
export class GpuModelFilter implements Filter {
  static readonly NAME = "gpu-model";
  readonly name = GpuModelFilter.NAME;
  readonly static = true;

  staticKey(r: PlacementRequest): string {
    return demandKey(r.gpu);
  }

  prepare({ request }: PlacementContext): FilterCheck | null {
    const demand = request.gpu;
    if (demand === undefined) return null;
    const need = gpusNeeded(demand);
    return {
      test: (h) => h.gpus.length >= need && fitCount(h, demand, true) >= need,
      explain: (h) => {
        const have = fitCount(h, demand, true);
        return { code: "gpu_model", reason: `needs ${describeDemand(demand)}, host has ${have} such GPU${have === 1 ? "" : "s"}`, unresolvable: true };
      },
    };
  }
}
