// Expected GPU fragmentation of one host under a task mix (the FGD idea, Weng et al., ATC '23), extended
// with memory: free GPU capacity counts as fragmented for a task when the task could not use it, either
// because no GPU there has enough free share, or because the host lacks the CPU or memory to go with it.
// Pure functions over plain numbers, allocation-free on the scoring path: a host's copies per GPU need
// are counted once, and each candidate placement adjusts them in O(groups) before the shapes are summed.
import type { GpuNeedGroup, GpuWorkloadMixView } from "./gpu-workload-mix.js";

/** What the measure needs to know about a host. */
export interface GpuHostState {
  cpuFree: number;
  memoryFreeMib: number;
  /** Free milli-GPU of each GPU usable by GPU tasks (0..1000 each). */
  gpuFreeMilli: ArrayLike<number>;
  model: string;
}

/** A GPU request as the measure sees it: `count` GPUs needing `milli` each (1000 = whole GPU). */
export interface GpuNeed {
  cpu: number;
  memoryMib: number;
  count: number;
  milli: number;
}

function groupApplies(g: GpuNeedGroup, model: string): boolean {
  return g.models.length === 0 || g.models.includes(model);
}

// Scratch per group (one host is evaluated at a time; JavaScript runs one placement at a time).
let copiesScratch = new Float64Array(16);
let afterScratch = new Float64Array(16);

function scratchFor(n: number): void {
  if (copiesScratch.length < n) {
    copiesScratch = new Float64Array(n * 2);
    afterScratch = new Float64Array(n * 2);
  }
}

function isShare(g: GpuNeedGroup): boolean {
  return g.gpuCount === 1 && g.gpuMilli < 1000;
}

/**
 * Copies of each group's GPU need the GPUs alone could hold (0 for groups of other models), into
 * `out`; returns the applicable weight.
 */
function countCopies(gpuFree: ArrayLike<number>, whole: number, model: string, mix: GpuWorkloadMixView, out: Float64Array): number {
  const groups = mix.groups;
  const n = gpuFree.length;
  let weight = 0;
  for (let gi = 0; gi < groups.length; gi++) {
    const g = groups[gi]!;
    if (!groupApplies(g, model)) {
      out[gi] = 0;
      continue;
    }
    weight += g.totalWeight;
    if (isShare(g)) {
      let c = 0;
      for (let i = 0; i < n; i++) c += Math.floor((gpuFree[i] as number) / g.gpuMilli);
      out[gi] = c;
    } else {
      out[gi] = Math.floor(whole / g.gpuCount);
    }
  }
  return weight;
}

/** Expected usable milli-GPU: copies of each shape bounded by the GPUs, CPU and memory, weighted. */
function usableMilli(cpuFree: number, memFree: number, copies: Float64Array, mix: GpuWorkloadMixView): number {
  const groups = mix.groups;
  let usable = 0;
  for (let gi = 0; gi < groups.length; gi++) {
    const gpuCopies = copies[gi]!;
    if (gpuCopies <= 0) continue;
    const g = groups[gi]!;
    const perCopy = g.gpuCount * g.gpuMilli;
    if (g.gpuOnly) {
      usable += g.totalWeight * gpuCopies * perCopy;
      continue;
    }
    const m = g.cpu.length;
    for (let k = 0; k < m; k++) {
      const cpu = g.cpu[k]!;
      const mem = g.memoryMib[k]!;
      let c = gpuCopies;
      if (cpu > 0) c = Math.min(c, Math.floor(cpuFree / cpu));
      if (mem > 0) c = Math.min(c, Math.floor(memFree / mem));
      if (c > 0) usable += g.weight[k]! * c * perCopy;
    }
  }
  return usable;
}

function wholeFree(gpuFree: ArrayLike<number>): number {
  let whole = 0;
  for (let i = 0; i < gpuFree.length; i++) if ((gpuFree[i] as number) >= 1000) whole++;
  return whole;
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
  for (let i = 0; i < gpuFree.length; i++) total += gpuFree[i] as number;
  if (total <= 0) return 0;
  scratchFor(mix.groups.length);
  const weight = countCopies(gpuFree, wholeFree(gpuFree), model, mix, copiesScratch);
  return weight * total - usableMilli(cpuFree, memFree, copiesScratch, mix);
}

export interface GpuChoice {
  /** Increase of the host's expected fragmentation caused by this placement (milli-GPU; lower is better). */
  fragmentationDelta: number;
  /**
   * Expected GPU capacity (milli) usable by the task mix that the placement removes: what it takes
   * (weighted by the share of the mix that may use this model) plus what it strands,
   * fragmentationDelta + (weight of the applicable shapes) x (milli taken). Never negative.
   */
  usableLoss: number;
  /** GPU indices (into gpuFreeMilli) the request takes. */
  gpus: number[];
}

// Outputs of the last evaluate() besides its loss.
let chosenDelta = 0;
/** The share's GPU (shares), or -1 (whole GPUs: the lowest free indices; none). */
let chosenGpu = -1;

/**
 * The usable loss of the best placement of `need` on the host (see GpuChoice), or -1 when the GPUs
 * cannot hold it. Whole GPUs take fully free GPUs (all equivalent for the measure); a share tries
 * each distinct free level and keeps the least fragmenting, ties going to the fullest GPU (best fit).
 */
function evaluate(host: GpuHostState, need: GpuNeed, mix: GpuWorkloadMixView, before: number | undefined): number {
  const free = host.gpuFreeMilli;
  const n = free.length;
  const groups = mix.groups;
  scratchFor(groups.length);
  const copies = copiesScratch;
  const after = afterScratch;
  let total = 0;
  let whole = 0;
  for (let i = 0; i < n; i++) {
    const f = free[i] as number;
    total += f;
    if (f >= 1000) whole++;
  }
  const w = countCopies(free, whole, host.model, mix, copies);
  const base = before ?? (total <= 0 ? 0 : w * total - usableMilli(host.cpuFree, host.memoryFreeMib, copies, mix));
  const cpuAfter = host.cpuFree - need.cpu;
  const memAfter = host.memoryFreeMib - need.memoryMib;
  chosenGpu = -1;
  if (need.count <= 0 || need.milli <= 0) {
    chosenDelta = (total <= 0 ? 0 : w * total - usableMilli(cpuAfter, memAfter, copies, mix)) - base;
    return Math.max(0, chosenDelta);
  }
  if (need.milli >= 1000 || need.count > 1) {
    if (whole < need.count) return -1;
    const left = whole - need.count;
    for (let gi = 0; gi < groups.length; gi++) {
      const g = groups[gi]!;
      if (!groupApplies(g, host.model)) after[gi] = 0;
      else if (isShare(g)) after[gi] = copies[gi]! - need.count * Math.floor(1000 / g.gpuMilli);
      else after[gi] = Math.floor(left / g.gpuCount);
    }
    const t = total - 1000 * need.count;
    chosenDelta = (t <= 0 ? 0 : w * t - usableMilli(cpuAfter, memAfter, after, mix)) - base;
    return Math.max(0, chosenDelta + w * 1000 * need.count);
  }
  let best = -1;
  let bestFree = Infinity;
  const t = total - need.milli;
  for (let i = 0; i < n; i++) {
    const f = free[i] as number;
    if (f < need.milli) continue;
    let seen = false;
    for (let j = 0; j < i; j++) if ((free[j] as number) === f) seen = true;
    if (seen) continue;
    const left = f >= 1000 ? whole - 1 : whole;
    for (let gi = 0; gi < groups.length; gi++) {
      const g = groups[gi]!;
      if (!groupApplies(g, host.model)) after[gi] = 0;
      else if (isShare(g)) after[gi] = copies[gi]! - Math.floor(f / g.gpuMilli) + Math.floor((f - need.milli) / g.gpuMilli);
      else after[gi] = Math.floor(left / g.gpuCount);
    }
    const delta = (t <= 0 ? 0 : w * t - usableMilli(cpuAfter, memAfter, after, mix)) - base;
    if (best < 0 || delta < chosenDelta - 1e-9 || (Math.abs(delta - chosenDelta) <= 1e-9 && f < bestFree)) {
      best = i;
      bestFree = f;
      chosenDelta = delta;
    }
  }
  if (best < 0) return -1;
  chosenGpu = best;
  return Math.max(0, chosenDelta + w * need.milli);
}

/** The usable loss (see GpuChoice) of the least fragmenting placement, or -1 when the GPUs cannot hold it. */
export function leastFragmentingLoss(host: GpuHostState, need: GpuNeed, mix: GpuWorkloadMixView, before?: number): number {
  return evaluate(host, need, mix, before);
}

/**
 * The placement of `need` on this host that least increases its expected fragmentation, or null if the
 * GPUs cannot hold it. `before` may pass the host's current fragmentation when the caller has it memoised.
 */
export function leastFragmentingChoice(host: GpuHostState, need: GpuNeed, mix: GpuWorkloadMixView, before?: number): GpuChoice | null {
  const loss = evaluate(host, need, mix, before);
  if (loss < 0) return null;
  const gpus: number[] = [];
  if (chosenGpu >= 0) gpus.push(chosenGpu);
  else if (need.count > 0 && need.milli > 0) {
    const free = host.gpuFreeMilli;
    for (let i = 0; i < free.length && gpus.length < need.count; i++) if ((free[i] as number) >= 1000) gpus.push(i);
  }
  return { fragmentationDelta: chosenDelta, usableLoss: loss, gpus };
}
