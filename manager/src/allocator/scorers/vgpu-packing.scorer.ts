import * as fleet from "../fleet.js";
import * as gpuFit from "../gpu/gpu-fit.js";
import { pickPackedGpu } from "../gpu/gpu-pick.js";
import { demandKey } from "../gpu/gpu-demand.js";
import type { PlacementContext, ScoreFunction, Scorer } from "../plugin.js";
import type { PlacementRequest } from "../types.js";

// Module-local copies of imported bindings read in the hot loop (each read is a getter under tsx).
const GPU_FREE = fleet.GPU_FREE;
const GPU_SHARE = fleet.GPU_SHARE;
const MILLI_PER_GPU = fleet.MILLI_PER_GPU;
const gpuFitsNow = gpuFit.gpuFitsNow;

/**
 * vGPUs and shares fill GPUs that already host that vGPU type (or shares) before an empty GPU
 * is opened: hosts with such a GPU score 0.5..1 (fuller after placement scores higher), others 0.
 * On the winning host it picks that GPU.
 */
export class VgpuPackingScorer implements Scorer {
  static readonly NAME = "vgpu-packing";
  readonly name = VgpuPackingScorer.NAME;
  readonly kind = "stateful" as const;

  staticKey(r: PlacementRequest): string {
    return demandKey(r.gpu);
  }

  prepare({ request }: PlacementContext): ScoreFunction | null {
    const demand = request.gpu;
    if (demand === undefined || demand.kind === "passthrough") return null;
    return {
      score: (h) => {
        let best = 0;
        for (const g of h.gpus) {
          if (g.mode === GPU_FREE || !gpuFitsNow(g, demand)) continue;
          let fullness: number;
          if (demand.kind === "share") fullness = g.mode === GPU_SHARE ? (g.shareMilli + demand.milli) / MILLI_PER_GPU : 0;
          else {
            const spec = g.vgpuSpec(demand.vgpuType)!;
            fullness = spec.migSlices
              ? (g.migUsed + spec.migSlices) / (g.src.migSlices ?? spec.migSlices)
              : ((g.vgpus?.get(spec.name) ?? 0) + 1) / spec.maxInstances;
          }
          const s = 0.5 + 0.5 * Math.min(1, fullness);
          if (s > best) best = s;
        }
        return best;
      },
      pickGpus: (h) => pickPackedGpu(h, demand),
    };
  }
}
