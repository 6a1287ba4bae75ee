import type { PlacementContext, ScoreFunction, Scorer } from "../plugin.js";
import type { PlacementRequest } from "../types.js";

/** VMs without GPUs go to hosts without GPUs first, keeping GPU hosts for GPU VMs. */
export class GpuHostsLastScorer implements Scorer {
  static readonly NAME = "gpu-hosts-last";
  readonly name = GpuHostsLastScorer.NAME;
  readonly kind = "static" as const;

  staticKey(r: PlacementRequest): string {
    return r.gpu === undefined ? "cpu" : "gpu";
  }

  prepare({ request }: PlacementContext): ScoreFunction | null {
    if (request.gpu !== undefined) return null;
    return { score: (h) => (h.gpus.length === 0 ? 1 : 0) };
  }
}
