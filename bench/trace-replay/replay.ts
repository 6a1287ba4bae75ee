// The replay loop: each pod is offered once, in order, never removed; a pod that fits nowhere is dropped
// and the replay continues. Records arrived and allocated GPU-milli after every pod.
import { podGpuDemandMilli, type TracePod } from "./trace-csv.js";

/** Anything that can try to place one pod and keep it (the allocator-core adapter, or a test double). */
export interface PodPlacer {
  /** Returns true if the pod was placed (and its resources are now held). */
  place(pod: TracePod): boolean;
}

export interface ReplayResult {
  /** Cumulative requested GPU-milli after pod i (failed pods included). */
  arrivedMilli: Float64Array;
  /** Cumulative allocated GPU-milli after pod i. */
  allocatedMilli: Float64Array;
  placed: number;
  failed: number;
}

export function replay(sequence: readonly TracePod[], placer: PodPlacer): ReplayResult {
  const n = sequence.length;
  const arrivedMilli = new Float64Array(n);
  const allocatedMilli = new Float64Array(n);
  let arrived = 0;
  let allocated = 0;
  let placed = 0;
  for (let i = 0; i < n; i++) {
    const pod = sequence[i] as TracePod;
    const demand = podGpuDemandMilli(pod);
    arrived += demand;
    if (placer.place(pod)) {
      allocated += demand;
      placed++;
    }
    arrivedMilli[i] = arrived;
    allocatedMilli[i] = allocated;
  }
  return { arrivedMilli, allocatedMilli, placed, failed: n - placed };
}

/**
 * Unallocated GPU % (100 - allocated/capacity) at the moment the arrived request reaches `arrivedPct`
 * of capacity: the state after the last pod whose cumulative request is still <= that point.
 */
export function unallocatedPctAt(result: ReplayResult, capacityMilli: number, arrivedPct: number): number {
  const limit = (arrivedPct / 100) * capacityMilli + 1e-9;
  let lo = 0;
  let hi = result.arrivedMilli.length; // first index with arrived > limit
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((result.arrivedMilli[mid] as number) <= limit) lo = mid + 1;
    else hi = mid;
  }
  const allocated = lo === 0 ? 0 : (result.allocatedMilli[lo - 1] as number);
  return 100 - (100 * allocated) / capacityMilli;
}

export function meanSd(values: readonly number[]): { mean: number; sd: number } {
  if (values.length === 0) return { mean: NaN, sd: NaN };
  const mean = values.reduce((s, v) => s + v, 0) / values.length;
  // Sample sd (n-1), as pandas' default that the paper's tables use.
  const sd = values.length < 2 ? 0 : Math.sqrt(values.reduce((s, v) => s + (v - mean) ** 2, 0) / (values.length - 1));
  return { mean, sd };
}
