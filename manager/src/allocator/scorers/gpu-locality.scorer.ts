import { bestLocalFit, bestModelCount, fitCount } from "../gpu/gpu-fit.js";
import { pickLocalGpus } from "../gpu/gpu-pick.js";
import { demandKey } from "../gpu/gpu-demand.js";
import type { PlacementContext, ScoreFunction, Scorer } from "../plugin.js";
import type { PlacementRequest } from "../types.js";

/** Score per locality kind: one NVLink domain on one NUMA node, one NVLink domain, one NUMA node. */
const KIND_SCORE = [1, 0.8, 0.6];

/**
 * Multi-GPU VMs: hosts where the GPUs can come from one NVLink domain / NUMA node first; and,
 * on the winning host, the pick of those GPUs (the engine then pins vCPUs to that node).
 */
export class GpuLocalityScorer implements Scorer {
  static readonly NAME = "gpu-locality";
  readonly name = GpuLocalityScorer.NAME;
  readonly kind = "stateful" as const;

  staticKey(r: PlacementRequest): string {
    return demandKey(r.gpu);
  }

  prepare({ request }: PlacementContext): ScoreFunction | null {
    const demand = request.gpu;
    if (demand === undefined || demand.kind !== "passthrough") return null;
    const n = demand.count;
    return {
      score: (h) => {
        if (fitCount(h, demand, false) < n) return 0;
        if (n <= 1) return 1;
        const fit = bestLocalFit(h, demand, h.gpuModel ?? bestModelCount(h, demand, false).model, n);
        return fit === null ? 0 : KIND_SCORE[fit.kind]!;
      },
      pickGpus: (h) => pickLocalGpus(h, demand),
    };
  }
}
