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

/** Weight of the group's members that fit the host's free CPU and memory. */
function fittingWeight(g: GpuNeedGroup, cpuFree: number, memFree: number): number {
  let w = 0;
  const n = g.cpuMilli.length;
  for (let i = 0; i < n; i++) {
    if ((g.cpuMilli[i] as number) > cpuFree) break; // sorted by CPU
    if ((g.memoryMib[i] as number) <= memFree) w += g.weight[i] as number;
  }
  return w;
}

/**
 * Expected fragmented milli-GPU of the host: for each task shape (weight p), the free GPU capacity that
 * shape could not use here, summed with weights p.
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
  let frag = 0;
  for (const g of mix.groups) {
    if (!groupApplies(g, model)) continue;
    let usable = 0;
    let stranded = 0;
    for (let i = 0; i < n; i++) {
      const f = gpuFree[i] as number;
      if (f >= g.gpuMilli) usable++;
      else stranded += f;
    }
    if (usable < g.gpuCount) {
      frag += g.totalWeight * total;
      continue;
    }
    const fit = fittingWeight(g, cpuFree, memFree);
    frag += fit * stranded + (g.totalWeight - fit) * total;
  }
  return frag;
}

export interface GpuChoice {
  /** Increase of the host's expected fragmentation caused by this placement (milli-GPU; lower is better). */
  fragmentationDelta: number;
  /** GPU indices (into gpuFreeMilli) the request takes. */
  gpus: number[];
}

/**
 * The placement of `need` on this host that least increases its expected fragmentation, or null if the
 * GPUs cannot hold it. Whole GPUs take fully free GPUs (all equivalent for the measure: the lowest indices);
 * a share tries each distinct free level and keeps the best, ties going to the fullest GPU (best fit).
 */
export function leastFragmentingChoice(host: GpuHostState, need: GpuNeed, mix: GpuWorkloadMixView): GpuChoice | null {
  const free = host.gpuFreeMilli;
  const n = free.length;
  const cpuAfter = host.cpuFreeMilli - need.cpuMilli;
  const memAfter = host.memoryFreeMib - need.memoryMib;
  const before = expectedFragmentationMilli(host.cpuFreeMilli, host.memoryFreeMib, free, host.model, mix);
  const after = Array.from(free as ArrayLike<number>);
  if (need.count <= 0 || need.milli <= 0) {
    return { fragmentationDelta: expectedFragmentationMilli(cpuAfter, memAfter, after, host.model, mix) - before, gpus: [] };
  }
  if (need.milli >= 1000 || need.count > 1) {
    const gpus: number[] = [];
    for (let i = 0; i < n && gpus.length < need.count; i++) if ((free[i] as number) >= 1000) gpus.push(i);
    if (gpus.length < need.count) return null;
    for (const i of gpus) after[i] = 0;
    return { fragmentationDelta: expectedFragmentationMilli(cpuAfter, memAfter, after, host.model, mix) - before, gpus };
  }
  let best: GpuChoice | null = null;
  let bestFree = Infinity;
  const tried = new Set<number>();
  for (let i = 0; i < n; i++) {
    const f = free[i] as number;
    if (f < need.milli || tried.has(f)) continue;
    tried.add(f);
    after[i] = f - need.milli;
    const delta = expectedFragmentationMilli(cpuAfter, memAfter, after, host.model, mix) - before;
    after[i] = f;
    if (best === null || delta < best.fragmentationDelta - 1e-9 || (Math.abs(delta - best.fragmentationDelta) <= 1e-9 && f < bestFree)) {
      best = { fragmentationDelta: delta, gpus: [i] };
      bestFree = f;
    }
  }
  return best;
}
