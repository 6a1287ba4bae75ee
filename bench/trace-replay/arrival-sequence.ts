// The paper's arrival order: pods sorted by name, shuffled with the run's seed, then inflated by sampling
// pods uniformly with replacement until the total GPU request would pass `tuneRatio` x capacity.
import { podGpuDemandMilli, type TracePod } from "./trace-csv.js";
import { seededRandom, shuffleInPlace } from "./seeded-random.js";

export interface ArrivalOptions {
  seed: number;
  /** Cluster GPU capacity in milli-GPU. */
  capacityMilliGpu: number;
  /** Target total request as a multiple of capacity (the paper's `-tune 1.3`). */
  tuneRatio: number;
}

export function arrivalSequence(pods: readonly TracePod[], opts: ArrivalOptions): TracePod[] {
  const rng = seededRandom(opts.seed);
  const sorted = [...pods].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const order = sorted.slice();
  shuffleInPlace(order, rng);
  const target = opts.tuneRatio * opts.capacityMilliGpu;
  let total = order.reduce((s, p) => s + podGpuDemandMilli(p), 0);
  if (total >= target || sorted.length === 0) return order;
  // Like the simulator: stop at the first sample that would overshoot the target.
  for (;;) {
    const pick = sorted[rng.int(sorted.length)] as TracePod;
    const demand = podGpuDemandMilli(pick);
    if (total + demand > target) break;
    total += demand;
    order.push(pick);
  }
  return order;
}
