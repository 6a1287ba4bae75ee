// The GPU workload a fleet serves, as the fragmentation scorer sees it: a popularity-weighted list
// of request shapes. It travels in the snapshot (`FleetSnapshot.gpuWorkload`: plain data, e.g. the
// manager's GPU flavors weighted by the VMs running them), so placement stays a pure function of
// the snapshot. `GpuWorkloadLearner` builds one online from a stream of requests (simulations).
import type { GpuWorkloadShape } from "../types.js";

/** Shapes with the same GPU need, so a host's GPU-side fit is computed once for all of them. */
export interface GpuNeedGroup {
  gpuCount: number;
  gpuMilli: number;
  models: readonly string[];
  /** Members sorted by vCPUs ascending. */
  cpu: Float64Array;
  memoryMib: Float64Array;
  /** Normalised weights (all groups of a mix sum to 1). */
  weight: Float64Array;
  totalWeight: number;
  /** True when no member needs CPU or memory: copies are bounded by the GPUs alone. */
  gpuOnly: boolean;
}

/** Compiled, normalised mix; `epoch` identifies it (caches are keyed by it). */
export interface GpuWorkloadMixView {
  readonly epoch: number;
  readonly groups: readonly GpuNeedGroup[];
}

let epochCounter = 0;

/**
 * A generic prior for fleets that state no workload: whole-GPU VMs of 1, 2, 4 and 8 GPUs and
 * half / quarter shares, equally likely, CPU and memory not counted. It says only "keep GPUs
 * whole, and keep whole hosts for big VMs"; a fleet's real mix replaces it.
 */
export const PRIOR_GPU_WORKLOAD: readonly GpuWorkloadShape[] = [
  { vcpus: 0, memoryMib: 0, gpuCount: 1, gpuMilli: 1000, weight: 1 },
  { vcpus: 0, memoryMib: 0, gpuCount: 2, gpuMilli: 1000, weight: 1 },
  { vcpus: 0, memoryMib: 0, gpuCount: 4, gpuMilli: 1000, weight: 1 },
  { vcpus: 0, memoryMib: 0, gpuCount: 8, gpuMilli: 1000, weight: 1 },
  { vcpus: 0, memoryMib: 0, gpuCount: 1, gpuMilli: 500, weight: 1 },
  { vcpus: 0, memoryMib: 0, gpuCount: 1, gpuMilli: 250, weight: 1 },
];

function needKey(s: GpuWorkloadShape): string {
  return `${s.gpuCount}|${s.gpuMilli}|${(s.models ?? []).join(",")}`;
}

/**
 * Compiles shapes into a mix: drops invalid and CPU-only shapes, keeps the most popular ones
 * covering `coverage` of the weight (the tail is noise for scoring, and costs time), normalises.
 */
export function compileGpuWorkload(shapes: readonly GpuWorkloadShape[], coverage = 0.99): GpuWorkloadMixView {
  const valid = shapes.filter((s) => s.gpuCount >= 1 && s.gpuMilli > 0 && s.gpuMilli <= 1000 && s.weight > 0 && Number.isFinite(s.weight));
  const sorted = [...valid].sort((a, b) => b.weight - a.weight);
  const total = sorted.reduce((s, e) => s + e.weight, 0);
  const kept: GpuWorkloadShape[] = [];
  let acc = 0;
  for (const e of sorted) {
    if (acc >= coverage * total) break;
    kept.push(e);
    acc += e.weight;
  }
  const byNeed = new Map<string, GpuWorkloadShape[]>();
  for (const e of kept) {
    const k = needKey(e);
    const list = byNeed.get(k);
    if (list) list.push(e);
    else byNeed.set(k, [e]);
  }
  const groups: GpuNeedGroup[] = [];
  for (const list of byNeed.values()) {
    list.sort((a, b) => a.vcpus - b.vcpus);
    const first = list[0]!;
    const weight = Float64Array.from(list, (e) => e.weight / acc);
    groups.push({
      gpuCount: first.gpuCount,
      gpuMilli: first.gpuMilli,
      models: first.models ?? [],
      cpu: Float64Array.from(list, (e) => Math.max(0, e.vcpus)),
      memoryMib: Float64Array.from(list, (e) => Math.max(0, e.memoryMib)),
      weight,
      totalWeight: weight.reduce((s, w) => s + w, 0),
      gpuOnly: list.every((e) => !(e.vcpus > 0) && !(e.memoryMib > 0)),
    });
  }
  return { epoch: ++epochCounter, groups };
}

export interface GpuWorkloadLearnerOptions {
  /** Requests after which an observation's weight halves (follows a drifting workload). */
  halfLifeRequests?: number;
  /**
   * A new mix is due once the observations since the last one reach this share of the weight the
   * last one was built from: often while the mix is young, rarely once it is stable (1 = each mix
   * is built from twice the weight of the previous one). Placement caches are rebuilt per mix.
   */
  refreshShare?: number;
}

/** Learns the shapes of GPU requests seen so far (never the future), with exponential decay. */
export class GpuWorkloadLearner {
  private readonly shapes = new Map<string, GpuWorkloadShape>();
  private readonly growth: number;
  private readonly refreshShare: number;
  /** Observations are added with weight `scale`, which grows instead of decaying every stored weight. */
  private scale = 1;
  private total = 0;
  private sinceRefresh = 0;
  private due = false;

  constructor(opts: GpuWorkloadLearnerOptions = {}) {
    this.growth = Math.pow(2, 1 / (opts.halfLifeRequests ?? 20_000));
    this.refreshShare = opts.refreshShare ?? 1;
  }

  /** Records one request shape (weight ignored). CPU-only shapes are ignored: they strand no GPU by themselves. */
  observe(shape: Omit<GpuWorkloadShape, "weight">, count = 1): void {
    if (shape.gpuCount <= 0 || shape.gpuMilli <= 0) return;
    this.scale *= Math.pow(this.growth, count);
    if (this.scale > 1e100) this.rescale();
    const key = `${shape.vcpus}|${shape.memoryMib}|${needKey({ ...shape, weight: 0 })}`;
    const add = count * this.scale;
    const entry = this.shapes.get(key);
    if (entry) entry.weight += add;
    else this.shapes.set(key, { ...shape, models: [...(shape.models ?? [])], weight: add });
    this.total += add;
    this.sinceRefresh += add;
    if (this.sinceRefresh >= this.refreshShare * (this.total - this.sinceRefresh)) this.due = true;
  }

  /** True once enough was observed since the last `take()` for a new mix to be worth building. */
  get refreshDue(): boolean {
    return this.due;
  }

  /** The shapes observed so far, weighted (a snapshot's `gpuWorkload`); resets `refreshDue`. */
  take(): GpuWorkloadShape[] {
    this.due = false;
    this.sinceRefresh = 0;
    return [...this.shapes.values()].map((s) => ({ ...s, weight: s.weight / this.scale }));
  }

  private rescale(): void {
    for (const e of this.shapes.values()) e.weight /= this.scale;
    this.total /= this.scale;
    this.sinceRefresh /= this.scale;
    this.scale = 1;
  }
}
