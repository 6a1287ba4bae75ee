import { fitCount, freeGpusAfter, gpusNeeded } from "../gpu/gpu-fit.js";
import { demandKey } from "../gpu/gpu-demand.js";
import type { PlacementContext, ScoreFunction, Scorer } from "../plugin.js";
import type { PlacementRequest } from "../types.js";

/**
 * Whole-GPU fragmentation-aware best fit: prefer the host left with the fewest free whole GPUs,
 * so hosts with many free GPUs (able to serve an 8-GPU VM) are not broken up by small requests.
 * A vGPU or share that fits on a partly used GPU opens no free GPU at all.
 */
export class GpuBestFitScorer implements Scorer {
  static readonly NAME = "gpu-bestfit";
  readonly name = GpuBestFitScorer.NAME;
  readonly kind = "stateful" as const;

  staticKey(r: PlacementRequest): string {
    return demandKey(r.gpu);
  }

  prepare({ request }: PlacementContext): ScoreFunction | null {
    const demand = request.gpu;
    if (demand === undefined) return null;
    const need = gpusNeeded(demand);
    return {
      score: (h) => {
        const total = h.gpus.length;
        // Hosts that cannot take it now rank last (they would otherwise look like a perfect fit).
        if (total === 0 || fitCount(h, demand, false) < need) return 0;
        const after = freeGpusAfter(h, demand);
        return after <= 0 ? 1 : 1 - after / total;
      },
    };
  }
}
