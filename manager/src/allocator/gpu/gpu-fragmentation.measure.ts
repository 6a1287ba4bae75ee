// Expected GPU fragmentation of one host under a task mix (the FGD idea, Weng et al., ATC '23), extended
// with memory: free GPU capacity counts as fragmented for a task when the task could not use it, either
// because no GPU there has enough free share, or because the host lacks the CPU or memory to go with it.
// Pure functions over plain numbers so a scorer can call them per host in O(groups x GPUs).
import { type GpuNeedGroup, type GpuWorkloadMixView } from "./gpu-fragmentation.workload.js";

/** What the measure needs to know about a host. */
export interface GpuHostState {
  cpuFreeMilli: number;
  memoryFreeMib: number;
  /** Free milli-GPU of each GPU usable by GPU tasks (0..1000 each). */
  gpuFreeMilli: ArrayLike<number>;
  model: string;
}

/** A GPU request as the measure sees it: `count` GPUs needing `milli` each (1000 = whole GPU). */
export interface GpuNeed {
  cpuMilli: number;
  memoryMib: number;
  count: number;
  milli: number;
}

function groupApplies(g: GpuNeedGroup, model: string): boolean {
  return g.models.length === 0 || g.models.includes(model);
}

/** Total weight of the mix's shapes that may run on this GPU model. */
export function applicableWeight(model: string, mix: GpuWorkloadMixView): number {
  let w = 0;
  for (const g of mix.groups) if (groupApplies(g, model)) w += g.totalWeight;
  return w;
}

/**
 * Expected fragmented milli-GPU of the host. For each task shape t (weight p_t): fill the host with
 * copies of t until a GPU, CPU or memory runs out; the free GPU capacity those copies cannot use is t's
 * fragment, and the measure is the p-weighted sum. FGD (Weng et al.) asks only whether one copy fits;
 * counting copies also sees a host whose CPU or memory per free GPU is too thin for the typical task,
 * and the share leftovers that no copy fills (1000 free for 470-milli tasks strands 60).
 */
export function expectedFragmentationMilli(
  cpuFree: number,
  memFree: number,
  gpuFree: ArrayLike<number>,
  model: string,
  mix: GpuWorkloadMixView,
): number {
  let total = 0;
  const n = gpuFree.length;
  for (let i = 0; i < n; i++) total += gpuFree[i] as number;
  if (total <= 0) return 0;
  let usable = 0;
  let weight = 0;
  for (const g of mix.groups) {
    if (!groupApplies(g, model)) continue;
    weight += g.totalWeight;
    // Copies of this GPU need the GPUs alone could hold.
    let gpuCopies = 0;
    if (g.gpuCount === 1 && g.gpuMilli < 1000) {
      for (let i = 0; i < n; i++) gpuCopies += Math.floor((gpuFree[i] as number) / g.gpuMilli);
    } else {
      let whole = 0;
      for (let i = 0; i < n; i++) if ((gpuFree[i] as number) >= 1000) whole++;
      gpuCopies = Math.floor(whole / g.gpuCount);
    }
    if (gpuCopies === 0) continue;
    const perCopy = g.gpuCount * g.gpuMilli;
    const m = g.cpuMilli.length;
    for (let k = 0; k < m; k++) {
      const cpu = g.cpuMilli[k] as number;
      const mem = g.memoryMib[k] as number;
      let copies = gpuCopies;
      if (cpu > 0) copies = Math.min(copies, Math.floor(cpuFree / cpu));
      if (mem > 0) copies = Math.min(copies, Math.floor(memFree / mem));
      if (copies > 0) usable += (g.weight[k] as number) * copies * perCopy;
    }
  }
  return weight * total - usable;
}

export interface GpuChoice {
  /** Increase of the host's expected fragmentation caused by this placement (milli-GPU; lower is better). */
  fragmentationDelta: number;
  /**
   * Expected GPU capacity (milli) the placement makes unusable for the task mix beyond what it takes
   * itself: fragmentationDelta + (weight of the applicable shapes) x (milli taken). Never negative.
   */
  usableLoss: number;
  /** GPU indices (into gpuFreeMilli) the request takes. */
  gpus: number[];
}

// One scratch buffer: hosts have few GPUs and JavaScript runs one placement at a time.
let scratch = new Float64Array(16);

/**
 * The placement of `need` on this host that least increases its expected fragmentation, or null if the
 * GPUs cannot hold it. Whole GPUs take fully free GPUs (all equivalent for the measure: the lowest indices);
 * a share tries each distinct free level and keeps the best, ties going to the fullest GPU (best fit).
 * `before` may pass the host's current fragmentation when the caller has it memoised.
 */
export function leastFragmentingChoice(host: GpuHostState, need: GpuNeed, mix: GpuWorkloadMixView, before?: number): GpuChoice | null {
  const free = host.gpuFreeMilli;
  const n = free.length;
  const cpuAfter = host.cpuFreeMilli - need.cpuMilli;
  const memAfter = host.memoryFreeMib - need.memoryMib;
  const base = before ?? expectedFragmentationMilli(host.cpuFreeMilli, host.memoryFreeMib, free, host.model, mix);
  if (scratch.length < n) scratch = new Float64Array(n * 2);
  const after = scratch.subarray(0, n);
  for (let i = 0; i < n; i++) after[i] = free[i] as number;
  const w = applicableWeight(host.model, mix);
  const choice = (delta: number, taken: number, gpus: number[]): GpuChoice => ({
    fragmentationDelta: delta,
    usableLoss: Math.max(0, delta + w * taken),
    gpus,
  });
  if (need.count <= 0 || need.milli <= 0) {
    return choice(expectedFragmentationMilli(cpuAfter, memAfter, after, host.model, mix) - base, 0, []);
  }
  if (need.milli >= 1000 || need.count > 1) {
    const gpus: number[] = [];
    for (let i = 0; i < n && gpus.length < need.count; i++) if ((free[i] as number) >= 1000) gpus.push(i);
    if (gpus.length < need.count) return null;
    for (const i of gpus) after[i] = 0;
    return choice(expectedFragmentationMilli(cpuAfter, memAfter, after, host.model, mix) - base, 1000 * gpus.length, gpus);
  }
  let best: GpuChoice | null = null;
  let bestFree = Infinity;
  for (let i = 0; i < n; i++) {
    const f = free[i] as number;
    if (f < need.milli) continue;
    let seen = false;
    for (let j = 0; j < i; j++) if ((free[j] as number) === f) seen = true;
    if (seen) continue;
    after[i] = f - need.milli;
    const delta = expectedFragmentationMilli(cpuAfter, memAfter, after, host.model, mix) - base;
    after[i] = f;
    if (best === null || delta < best.fragmentationDelta - 1e-9 || (Math.abs(delta - best.fragmentationDelta) <= 1e-9 && f < bestFree)) {
      best = choice(delta, need.milli, [i]);
      bestFree = f;
    }
  }
  return best;
}
