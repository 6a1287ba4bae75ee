import { freeGpusAfter } from "../gpu/gpu-fit.js";
import type { PlacementContext, ScoreFunction, Scorer } from "../plugin.js";

/**
 * Whole-GPU fragmentation-aware best fit: prefer the host left with the fewest free whole GPUs,
 * so hosts with many free GPUs (able to serve an 8-GPU VM) are not broken up by small requests.
 * A vGPU or share that fits on a partly used GPU opens no free GPU at all.
 */
export class GpuBestFitScorer implements Scorer {
  static readonly NAME = "gpu-bestfit";
  readonly name = GpuBestFitScorer.NAME;
  readonly static = false;

  prepare({ request }: PlacementContext): ScoreFunction | null {
    const demand = request.gpu;
    if (demand === undefined) return null;
    return {
      score: (h) => {
        const total = h.gpus.length;
        if (total === 0) return 0;
        const after = freeGpusAfter(h, demand);
        return after <= 0 ? 1 : 1 - after / total;
      },
    };
  }
}
