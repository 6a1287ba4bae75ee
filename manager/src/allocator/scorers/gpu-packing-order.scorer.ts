import type { PlacementContext, ScoreFunction, Scorer } from "../plugin.js";

/**
 * Positions the order is spread over, at least: in a fleet of a few hosts one position would
 * otherwise be worth a large part of the weight (1/2 of it with 2 hosts) and outweigh the
 * fragmentation and balance tiers above, where it should only break their near-ties.
 */
const MIN_SPAN = 64;

/**
 * GPU hosts in the snapshot's stable order, first best (CPU hosts all score 1): packing momentum
 * for GPU VMs. Where gpu-fragmentation sees little difference between hosts, this keeps filling
 * the GPU hosts already opened and leaves the end of the order empty for the rare big VMs a
 * one-step fragmentation measure undervalues (trace replay: BENCHMARKS.md). Unlike `firstfit` it
 * leaves the order of CPU hosts to the allocation mode and algorithm.
 * Score = 1 - position / max(hosts, 64).
 */
export class GpuPackingOrderScorer implements Scorer {
  static readonly NAME = "gpu-packing-order";
  readonly name = GpuPackingOrderScorer.NAME;
  readonly kind = "static" as const;

  staticKey(): string {
    return "";
  }

  prepare({ hosts }: PlacementContext): ScoreFunction {
    const span = Math.max(hosts.length, MIN_SPAN);
    return { score: (h) => (h.gpus.length === 0 ? 1 : 1 - h.index / span) };
  }
}
