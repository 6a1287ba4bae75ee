// The task mix the GPU-fragmentation scorer protects: a popularity-weighted list of request shapes,
// learned online from the requests seen so far (never from the future), with exponential decay so that
// the mix follows a drifting workload. Pure data structure, no I/O.

/** One request shape as the fragmentation measure sees it. */
export interface GpuTaskShape {
  cpuMilli: number;
  memoryMib: number;
  /** GPUs needed on one host (1 for a share). */
  gpuCount: number;
  /** Per-GPU need in milli-GPU: 1000 for whole GPUs, < 1000 for a fractional share. */
  gpuMilli: number;
  /** Allowed GPU models; empty = any. */
  models: readonly string[];
}

/** Shapes with the same GPU need, so a host's GPU-side fit is computed once for all of them. */
export interface GpuNeedGroup {
  gpuCount: number;
  gpuMilli: number;
  models: readonly string[];
  /** Members sorted by cpuMilli ascending. */
  cpuMilli: Float64Array;
  memoryMib: Float64Array;
  /** Normalised weights (all groups of a mix sum to 1). */
  weight: Float64Array;
  totalWeight: number;
}

/** Frozen, normalised view of the mix; `epoch` changes whenever the view does (for memoisation). */
export interface GpuWorkloadMixView {
  readonly epoch: number;
  readonly groups: readonly GpuNeedGroup[];
}

export interface GpuWorkloadMixOptions {
  /** Requests after which an observation's weight halves. */
  halfLifeRequests?: number;
  /**
   * Republish the frozen view once the observations since the last one reach this share of the
   * (decayed) weight the last view was built from: often while the mix is young, rarely once it is
   * stable (1 = each view is built from twice the weight of the previous one). Scores are cached per view.
   */
  refreshShare?: number;
  /** Keep the most popular shapes covering this share of the weight (the rest is noise for scoring). */
  coverage?: number;
}

function shapeKey(s: GpuTaskShape): string {
  return `${s.cpuMilli}|${s.memoryMib}|${s.gpuCount}|${s.gpuMilli}|${s.models.join(",")}`;
}

let epochCounter = 0;

export class GpuWorkloadMix {
  private readonly shapes = new Map<string, { shape: GpuTaskShape; weight: number }>();
  private readonly growth: number;
  private readonly refreshShare: number;
  /** Decayed observation count, in units of the current scale. */
  private total = 0;
  private readonly coverage: number;
  /** Observations are added with weight `scale`, which grows instead of decaying every stored weight. */
  private scale = 1;
  private sinceRefresh = 0;
  private cached: GpuWorkloadMixView = { epoch: ++epochCounter, groups: [] };
  private dirty = false;

  constructor(opts: GpuWorkloadMixOptions = {}) {
    const halfLife = opts.halfLifeRequests ?? 20_000;
    this.growth = Math.pow(2, 1 / halfLife);
    this.refreshShare = opts.refreshShare ?? 1;
    this.coverage = opts.coverage ?? 0.99;
  }

  /** Records one request. CPU-only requests are ignored: they cannot strand GPU capacity by themselves. */
  observe(shape: GpuTaskShape, count = 1): void {
    if (shape.gpuCount <= 0 || shape.gpuMilli <= 0) return;
    this.scale *= Math.pow(this.growth, count);
    if (this.scale > 1e100) this.rescale();
    const key = shapeKey(shape);
    const entry = this.shapes.get(key);
    if (entry) entry.weight += count * this.scale;
    else this.shapes.set(key, { shape: { ...shape, models: [...shape.models] }, weight: count * this.scale });
    this.total += count * this.scale;
    this.dirty = true;
    this.sinceRefresh += count * this.scale;
    if (this.sinceRefresh >= this.refreshShare * (this.total - this.sinceRefresh)) this.publish();
  }

  /** The current frozen view (re-published as the mix moves; see `refreshShare`). */
  view(): GpuWorkloadMixView {
    if (this.dirty && this.cached.groups.length === 0) this.publish();
    return this.cached;
  }

  private rescale(): void {
    for (const e of this.shapes.values()) e.weight /= this.scale;
    this.total /= this.scale;
    this.sinceRefresh /= this.scale;
    this.scale = 1;
  }

  private publish(): void {
    this.sinceRefresh = 0;
    this.dirty = false;
    const entries = [...this.shapes.values()].sort((a, b) => b.weight - a.weight);
    const total = entries.reduce((s, e) => s + e.weight, 0);
    if (total <= 0) {
      this.cached = { epoch: ++epochCounter, groups: [] };
      return;
    }
    const kept: typeof entries = [];
    let acc = 0;
    for (const e of entries) {
      if (acc >= this.coverage * total) break;
      kept.push(e);
      acc += e.weight;
    }
    const byNeed = new Map<string, { shape: GpuTaskShape; weight: number }[]>();
    for (const e of kept) {
      const k = `${e.shape.gpuCount}|${e.shape.gpuMilli}|${e.shape.models.join(",")}`;
      const list = byNeed.get(k);
      if (list) list.push(e);
      else byNeed.set(k, [e]);
    }
    const groups: GpuNeedGroup[] = [];
    for (const list of byNeed.values()) {
      list.sort((a, b) => a.shape.cpuMilli - b.shape.cpuMilli);
      const first = (list[0] as { shape: GpuTaskShape }).shape;
      const weight = Float64Array.from(list, (e) => e.weight / acc);
      groups.push({
        gpuCount: first.gpuCount,
        gpuMilli: first.gpuMilli,
        models: first.models,
        cpuMilli: Float64Array.from(list, (e) => e.shape.cpuMilli),
        memoryMib: Float64Array.from(list, (e) => e.shape.memoryMib),
        weight,
        totalWeight: weight.reduce((s, w) => s + w, 0),
      });
    }
    this.cached = { epoch: ++epochCounter, groups };
  }
}
