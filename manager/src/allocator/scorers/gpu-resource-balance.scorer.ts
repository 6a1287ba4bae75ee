import { GPU_FREE, GPU_SHARE, MILLI_PER_GPU, type FleetHost } from "../fleet.js";
import type { GpuWorkloadMixView } from "../gpu/gpu-workload-mix.js";
import type { PlacementContext, ScoreFunction, Scorer } from "../plugin.js";
import type { PlacementRequest } from "../types.js";

/**
 * Score per GPU of shortfall change: 1 / (1 + e^(2Δ)) gives 0.12 for one GPU more short, 0.88 for one
 * less: a one-GPU change moves it by 0.38, about twice what one more GPU of loss moves
 * gpu-fragmentation (1/2 to 1/3) in the same tier. Chosen on the quality bench and the trace replay
 * together (BENCHMARKS.md).
 */
const STEEPNESS = 2;

/** What the fleet's GPU workload brings with each GPU of a model, on average (GPU-weighted). */
export interface PerGpuNeed {
  cpu: number;
  memoryMib: number;
}

const needsByMix = new WeakMap<GpuWorkloadMixView, Map<string, PerGpuNeed | null>>();

/**
 * Mean vCPUs and memory the workload asks per GPU of `model`: total CPU (memory) of the shapes that
 * may use the model over the GPUs they take, each shape weighted by its popularity. Null when the
 * workload states no CPU or memory for the model (the generic prior): nothing to balance against.
 */
export function perGpuNeed(mix: GpuWorkloadMixView, model: string): PerGpuNeed | null {
  let byModel = needsByMix.get(mix);
  if (byModel === undefined) needsByMix.set(mix, (byModel = new Map()));
  const known = byModel.get(model);
  if (known !== undefined) return known;
  let cpu = 0;
  let mem = 0;
  let gpus = 0;
  for (const g of mix.groups) {
    if (g.models.length > 0 && !g.models.includes(model)) continue;
    const gpusPerCopy = (g.gpuCount * g.gpuMilli) / MILLI_PER_GPU;
    for (let k = 0; k < g.weight.length; k++) {
      const w = g.weight[k]!;
      cpu += w * g.cpu[k]!;
      mem += w * g.memoryMib[k]!;
      gpus += w * gpusPerCopy;
    }
  }
  const need = gpus > 0 && (cpu > 0 || mem > 0) ? { cpu: cpu / gpus, memoryMib: mem / gpus } : null;
  byModel.set(model, need);
  return need;
}

/**
 * Free GPUs a host's CPU or memory cannot serve, as a fluid expectation: each free GPU, once used,
 * brings the workload's mean CPU and memory per GPU with it. max(0, g - c/ĉ, g - m/m̂).
 */
export function gpusShortOfResources(freeGpus: number, cpuFree: number, memFreeMib: number, need: PerGpuNeed): number {
  let short = 0;
  if (need.cpu > 0) short = Math.max(short, freeGpus - Math.max(0, cpuFree) / need.cpu);
  if (need.memoryMib > 0) short = Math.max(short, freeGpus - Math.max(0, memFreeMib) / need.memoryMib);
  return short;
}

/** Free GPU capacity in GPUs: whole free GPUs, and what shares leave of theirs (vGPU GPUs count as used). */
function freeGpuUnits(h: FleetHost): number {
  let free = 0;
  for (const g of h.gpus) {
    if (g.mode === GPU_FREE) free += 1;
    else if (g.mode === GPU_SHARE) free += (MILLI_PER_GPU - g.shareMilli) / MILLI_PER_GPU;
  }
  return free;
}

/** GPUs the request takes from a host's free capacity (vGPU: none counted, see freeGpuUnits). */
function gpusTaken(r: PlacementRequest): number {
  const g = r.gpu;
  if (g === undefined || g.kind === "vgpu") return 0;
  if (g.kind === "share") return Math.min(g.milli, MILLI_PER_GPU) / MILLI_PER_GPU;
  return g.count;
}

/**
 * Keeps CPU and memory beside free GPUs (GPU hosts only; one GPU model per host). Each GPU of the
 * fleet's workload comes with about ĉ vCPUs and m̂ memory (`perGpuNeed`, from
 * `FleetSnapshot.gpuWorkload`); a host whose free CPU or memory falls below that for its free GPUs
 * will strand GPUs (`gpusShortOfResources`). The score is the change the placement makes to that
 * shortfall: VMs that ask more CPU per GPU than the mean go where CPU is to spare, VMs that ask less
 * go where it is short, and CPU-only VMs that spill onto GPU hosts go where the GPUs are taken.
 * gpu-fragmentation counts CPU too, but per shape and only once a whole copy no longer fits; this
 * sees the drift early, so high- and low-CPU VMs pair up on hosts (quality bench: BENCHMARKS.md).
 *
 * Score = 1 / (1 + e^(2Δ)), Δ = shortfall after - before, in GPUs: 1/2 for no change, above for a
 * placement that restores balance. Ranking: requests are grouped by their GPU need; the bound is the
 * score without the request's own CPU and memory (taking them can only raise the shortfall), and
 * `refine` gives the exact score for the hosts the engine walks. Without CPU or memory in the
 * workload (the generic prior) it scores every host alike.
 */
export class GpuResourceBalanceScorer implements Scorer {
  static readonly NAME = "gpu-resource-balance";
  readonly name = GpuResourceBalanceScorer.NAME;
  readonly kind = "stateful" as const;

  staticKey(r: PlacementRequest): string {
    const g = r.gpu;
    if (g === undefined || g.kind === "vgpu") return "-";
    return g.kind === "share" ? `s${g.milli}` : `p${g.count}`;
  }

  prepare({ request, fleet }: PlacementContext): ScoreFunction | null {
    // Taking no GPU, a VM can only raise the shortfall: 1/2 bounds it everywhere.
    if (gpusTaken(request) === 0) return fleet.gpuWorkload.groups.every((g) => g.gpuOnly) ? null : { score: () => 0.5 };
    return this.scoreFunction(request, fleet.gpuWorkload, false);
  }

  refine({ request, fleet }: PlacementContext): ScoreFunction | null {
    return this.scoreFunction(request, fleet.gpuWorkload, true);
  }

  private scoreFunction(request: PlacementRequest, mix: GpuWorkloadMixView, exact: boolean): ScoreFunction | null {
    if (mix.groups.every((g) => g.gpuOnly)) return null;
    const take = gpusTaken(request);
    const cpu = exact ? request.vcpus : 0;
    const mem = exact ? request.memoryMib : 0;
    // Hosts of one fleet have few models: remember the last one's need (hosts are scored in a loop).
    let lastModel: string | null = null;
    let lastNeed: PerGpuNeed | null = null;
    return {
      score: (h) => {
        const model = h.gpuModel;
        if (model === null) return 0.5;
        if (model !== lastModel) {
          lastNeed = perGpuNeed(mix, model);
          lastModel = model;
        }
        const need = lastNeed;
        if (need === null) return 0.5;
        const free = freeGpuUnits(h);
        const before = gpusShortOfResources(free, h.cpuFree, h.memFree, need);
        const after = gpusShortOfResources(Math.max(0, free - take), h.cpuFree - cpu, h.memFree - mem, need);
        return 1 / (1 + Math.exp(STEEPNESS * (after - before)));
      },
    };
  }
}
