// A minimal flat model of the trace's fleet with the paper's own policies re-implemented on it (Random,
// BestFit, FGD as in hkust-adsl/kubernetes-scheduler-simulator: integer 0-100 node scores, random tie-break
// among the best nodes, the paper's GPU selection inside a node). Used to validate the harness against the
// published numbers independently of Orbit's allocator core; Orbit's own policies run through `place()`.
import { type TraceNode, type TracePod } from "./trace-csv.js";
import { type PodPlacer } from "./replay.js";
import { seededRandom, shuffleInPlace, type SeededRandom } from "./seeded-random.js";

export class FlatFleet {
  readonly size: number;
  readonly cpuFree: Float64Array;
  readonly memFree: Float64Array;
  readonly gpuFree: Int32Array[];
  readonly model: string[];
  /** Bumped whenever a host changes, to invalidate per-host memos. */
  readonly generation: Uint32Array;

  constructor(nodes: readonly TraceNode[]) {
    this.size = nodes.length;
    this.cpuFree = Float64Array.from(nodes, (n) => n.cpuMilli);
    this.memFree = Float64Array.from(nodes, (n) => n.memoryMib);
    this.gpuFree = nodes.map((n) => new Int32Array(n.gpuCount).fill(1000));
    this.model = nodes.map((n) => n.gpuModel);
    this.generation = new Uint32Array(nodes.length);
  }

  fits(h: number, pod: TracePod): boolean {
    if (pod.cpuMilli > (this.cpuFree[h] as number) || pod.memoryMib > (this.memFree[h] as number)) return false;
    const g = gpuNeedOf(pod);
    if (g.count === 0) return true;
    if (pod.gpuModels.length > 0 && !pod.gpuModels.includes(this.model[h] as string)) return false;
    let usable = 0;
    for (const f of this.gpuFree[h] as Int32Array) if (f >= g.milli) usable++;
    return usable >= g.count;
  }

  take(h: number, pod: TracePod, gpus: readonly number[]): void {
    this.cpuFree[h] = (this.cpuFree[h] as number) - pod.cpuMilli;
    this.memFree[h] = (this.memFree[h] as number) - pod.memoryMib;
    const g = gpuNeedOf(pod);
    const free = this.gpuFree[h] as Int32Array;
    for (const i of gpus) free[i] = (free[i] as number) - g.milli;
    this.generation[h] = (this.generation[h] as number) + 1;
  }
}

export function gpuNeedOf(pod: TracePod): { count: number; milli: number } {
  if (pod.numGpu <= 0 || pod.gpuMilli <= 0) return { count: 0, milli: 0 };
  if (pod.numGpu === 1) return { count: 1, milli: Math.min(pod.gpuMilli, 1000) };
  return { count: pod.numGpu, milli: 1000 };
}

function firstFreeGpus(free: Int32Array, count: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < free.length && out.length < count; i++) if ((free[i] as number) >= 1000) out.push(i);
  return out;
}

/**
 * The best integer score; ties go to the lowest rank. The simulator's patched kube-scheduler picks the
 * lexicographically smallest node name among ties, and names are prefixed with a per-seed random
 * permutation, so ties follow one fixed random host order per run (which packs).
 */
function pickBest(scores: Int32Array, hosts: Int32Array, count: number, rank: Int32Array): number {
  let best = -Infinity;
  let chosen = -1;
  for (let k = 0; k < count; k++) {
    const s = scores[k] as number;
    const h = hosts[k] as number;
    if (s > best || (s === best && (rank[h] as number) < (rank[chosen] as number))) {
      best = s;
      chosen = h;
    }
  }
  return chosen;
}

abstract class PaperPlacer implements PodPlacer {
  protected readonly rng: SeededRandom;
  protected readonly hosts: Int32Array;
  protected readonly scores: Int32Array;
  protected readonly rank: Int32Array;
  constructor(
    protected readonly fleet: FlatFleet,
    seed: number,
  ) {
    this.rng = seededRandom(seed * 7919 + 17);
    this.hosts = new Int32Array(fleet.size);
    this.scores = new Int32Array(fleet.size);
    const order = Array.from({ length: fleet.size }, (_, i) => i);
    shuffleInPlace(order, this.rng);
    this.rank = Int32Array.from(order);
  }
  place(pod: TracePod): boolean {
    let count = 0;
    for (let h = 0; h < this.fleet.size; h++) if (this.fleet.fits(h, pod)) this.hosts[count++] = h;
    if (count === 0) return false;
    const h = this.choose(pod, count);
    this.fleet.take(h, pod, this.selectGpus(h, pod));
    return true;
  }
  protected abstract choose(pod: TracePod, count: number): number;
  protected abstract selectGpus(h: number, pod: TracePod): number[];
}

/** Random: a uniformly random feasible node, a random feasible GPU for a share. */
export class PaperRandomPlacer extends PaperPlacer {
  protected choose(_pod: TracePod, count: number): number {
    return this.hosts[this.rng.int(count)] as number;
  }
  protected selectGpus(h: number, pod: TracePod): number[] {
    const g = gpuNeedOf(pod);
    const free = this.fleet.gpuFree[h] as Int32Array;
    if (g.count === 0) return [];
    if (g.milli >= 1000) return firstFreeGpus(free, g.count);
    let pick = -1;
    let seen = 0;
    for (let i = 0; i < free.length; i++) if ((free[i] as number) >= g.milli && this.rng.int(++seen) === 0) pick = i;
    return [pick];
  }
}

const MAX_SPEC_CPU = 128_000;
const MAX_SPEC_GPU = 8_000;

/** BestFit: least weighted leftover (0.5 CPU / 128 vCPU + 0.5 GPU / 8 GPUs), min-max normalised to 0..100. */
export class PaperBestFitPlacer extends PaperPlacer {
  protected choose(pod: TracePod, count: number): number {
    const g = gpuNeedOf(pod);
    let lo = Infinity;
    let hi = -Infinity;
    for (let k = 0; k < count; k++) {
      const h = this.hosts[k] as number;
      let gpuLeft = 0;
      for (const f of this.fleet.gpuFree[h] as Int32Array) gpuLeft += f;
      const s = ((this.fleet.cpuFree[h] as number) - pod.cpuMilli) / MAX_SPEC_CPU * 0.5 + (gpuLeft - g.count * g.milli) / MAX_SPEC_GPU * 0.5;
      const score = Math.trunc((1 - s) * 100);
      this.scores[k] = score;
      if (score < lo) lo = score;
      if (score > hi) hi = score;
    }
    for (let k = 0; k < count; k++) this.scores[k] = hi === lo ? 0 : Math.trunc((((this.scores[k] as number) - lo) * 100) / (hi - lo));
    return pickBest(this.scores, this.hosts, count, this.rank);
  }
  protected selectGpus(h: number, pod: TracePod): number[] {
    return bestFitGpus(this.fleet.gpuFree[h] as Int32Array, gpuNeedOf(pod));
  }
}

export function bestFitGpus(free: Int32Array, g: { count: number; milli: number }): number[] {
  if (g.count === 0) return [];
  if (g.milli >= 1000) return firstFreeGpus(free, g.count);
  let pick = -1;
  for (let i = 0; i < free.length; i++) {
    const f = free[i] as number;
    if (f >= g.milli && (pick < 0 || f < (free[pick] as number))) pick = i;
  }
  return [pick];
}

interface TypicalPod {
  cpu: number;
  milli: number;
  count: number;
  p: number;
}

/** The paper's "typical pods": the most popular (cpu, gpu) shapes of the whole pod list covering 95%. */
export function paperTypicalPods(pods: readonly TracePod[]): TypicalPod[] {
  const counts = new Map<string, TypicalPod>();
  for (const pod of pods) {
    const g = gpuNeedOf(pod);
    const key = `${pod.cpuMilli}|${g.milli}|${g.count}`;
    const e = counts.get(key);
    if (e) e.p++;
    else counts.set(key, { cpu: pod.cpuMilli, milli: g.milli, count: g.count, p: 1 });
  }
  const list = [...counts.values()].sort((a, b) => b.p - a.p || a.cpu - b.cpu || a.milli - b.milli);
  const out: TypicalPod[] = [];
  let cum = 0;
  for (const t of list) {
    if (cum >= 0.95 * pods.length) break;
    out.push(t);
    cum += t.p;
  }
  for (const t of out) t.p /= cum;
  return out;
}

function paperFrag(cpuFree: number, free: ArrayLike<number>, typical: readonly TypicalPod[]): number {
  let total = 0;
  for (let i = 0; i < free.length; i++) total += free[i] as number;
  let frag = 0;
  for (const t of typical) {
    if (t.milli === 0) {
      frag += t.p * total; // CPU-only shapes count all idle GPU (constant across choices)
      continue;
    }
    let usable = 0;
    let small = 0;
    for (let i = 0; i < free.length; i++) {
      const f = free[i] as number;
      if (f >= t.milli) usable++;
      else small += f;
    }
    frag += t.p * (usable >= t.count && cpuFree >= t.cpu ? small : total);
  }
  return frag;
}

const sigmoid = (x: number): number => 1 / (1 + Math.exp(-x));

/** FGD: the node/GPU whose placement least increases the paper's fragmentation, scored int(sigmoid(-d/1000)*100). */
export class PaperFgdPlacer extends PaperPlacer {
  private readonly memo: Map<string, { score: number; gpus: number[] }>[];
  private readonly memoGen: Uint32Array;
  constructor(
    fleet: FlatFleet,
    seed: number,
    private readonly typical: readonly TypicalPod[],
  ) {
    super(fleet, seed);
    this.memo = Array.from({ length: fleet.size }, () => new Map());
    this.memoGen = new Uint32Array(fleet.size);
  }
  private evaluate(h: number, pod: TracePod): { score: number; gpus: number[] } {
    if (this.memoGen[h] !== this.fleet.generation[h]) {
      this.memo[h]?.clear();
      this.memoGen[h] = this.fleet.generation[h] as number;
    }
    const key = `${pod.cpuMilli}|${pod.numGpu}|${pod.gpuMilli}`;
    const hit = this.memo[h]?.get(key);
    if (hit) return hit;
    const free = this.fleet.gpuFree[h] as Int32Array;
    const cpu = this.fleet.cpuFree[h] as number;
    const before = paperFrag(cpu, free, this.typical);
    const g = gpuNeedOf(pod);
    const after = Int32Array.from(free);
    let result: { score: number; gpus: number[] };
    if (g.count === 1 && g.milli < 1000) {
      result = { score: -1, gpus: [] };
      for (let i = 0; i < free.length; i++) {
        if ((free[i] as number) < g.milli) continue;
        after[i] = (free[i] as number) - g.milli;
        const s = Math.trunc(sigmoid((before - paperFrag(cpu - pod.cpuMilli, after, this.typical)) / 1000) * 100);
        after[i] = free[i] as number;
        if (s > result.score) result = { score: s, gpus: [i] };
      }
    } else {
      const gpus = firstFreeGpus(free, g.count);
      for (const i of gpus) after[i] = 0;
      result = { score: Math.trunc(sigmoid((before - paperFrag(cpu - pod.cpuMilli, after, this.typical)) / 1000) * 100), gpus };
    }
    this.memo[h]?.set(key, result);
    return result;
  }
  protected choose(pod: TracePod, count: number): number {
    for (let k = 0; k < count; k++) this.scores[k] = this.evaluate(this.hosts[k] as number, pod).score;
    return pickBest(this.scores, this.hosts, count, this.rank);
  }
  protected selectGpus(h: number, pod: TracePod): number[] {
    return this.evaluate(h, pod).gpus;
  }
}
