import { GPU_FREE, GPU_SHARE, MILLI_PER_GPU, type FleetHost } from "../fleet.js";
import { gpuFitsNow } from "../gpu/gpu-fit.js";
import { pickLocalGpus } from "../gpu/gpu-pick.js";
import type { PlacementContext, ScoreFunction, Scorer } from "../plugin.js";
import type { GpuDemand, PlacementRequest } from "../types.js";
import { leastFragmentingChoice, type GpuHostState, type GpuNeed } from "./gpu-fragmentation.measure.js";
import { GpuWorkloadMix, type GpuWorkloadMixOptions, type GpuTaskShape } from "./gpu-fragmentation.workload.js";

/** The request as a task shape of the mix (CPU in the request's unit, as the hosts count it). */
export function taskShapeOf(r: PlacementRequest): GpuTaskShape {
  const g = r.gpu;
  const models = g?.models ?? [];
  if (g === undefined || g.kind === "vgpu") return { cpuMilli: r.vcpus, memoryMib: r.memoryMib, gpuCount: 0, gpuMilli: 0, models };
  if (g.kind === "share") return { cpuMilli: r.vcpus, memoryMib: r.memoryMib, gpuCount: 1, gpuMilli: Math.min(g.milli, MILLI_PER_GPU), models };
  return { cpuMilli: r.vcpus, memoryMib: r.memoryMib, gpuCount: g.count, gpuMilli: MILLI_PER_GPU, models };
}

// Scratch arrays for the host view: one placement is scored at a time.
let freeScratch = new Float64Array(16);

/** The host as the measure sees it: free milli per GPU usable by passthrough and shares. */
function hostState(h: FleetHost, demand: GpuDemand | undefined): GpuHostState {
  const n = h.gpus.length;
  if (freeScratch.length < n) freeScratch = new Float64Array(n * 2);
  const free = freeScratch.subarray(0, n);
  let model = "";
  for (let i = 0; i < n; i++) {
    const g = h.gpus[i]!;
    if (model === "") model = g.model;
    // GPUs of another model than the request allows count as used: the request cannot touch them.
    const allowed = demand === undefined || demand.models === undefined || demand.models.length === 0 || demand.models.includes(g.model);
    free[i] = !allowed ? 0 : g.mode === GPU_FREE ? MILLI_PER_GPU : g.mode === GPU_SHARE ? MILLI_PER_GPU - g.shareMilli : 0;
  }
  return { cpuFreeMilli: h.cpuFree, memoryFreeMib: h.memFree, gpuFreeMilli: free, model };
}

/**
 * Fragmentation-aware GPU placement (after FGD, Weng et al., USENIX ATC '23): prefer the host and
 * GPU whose use least increases the host's expected fragmentation under the task mix seen so far
 * (learned online from the requests this policy places, with decay). See gpu-fragmentation.measure.ts
 * for the measure; it counts GPUs stranded by missing CPU or memory as well as unusable share leftovers.
 *
 * Score = 1 / (1 + loss / 1000), where loss is the expected usable GPU capacity (milli) the placement
 * destroys beyond what it takes: 1 when it strands nothing, 1/2 when it strands one GPU's worth.
 * Stateful: the mix is frozen in views with an epoch, and the epoch is part of the cache key, so the
 * engine re-ranks hosts when the learned mix moves (rarely once it is stable).
 *
 * Pair it with a stable host order (the `firstfit` scorer at about a quarter of its weight): where the
 * losses of two hosts differ little, the order keeps packing the hosts already opened, which keeps empty
 * hosts for the rare big VMs the one-step measure undervalues (trace replay: BENCHMARKS.md).
 *
 * The mix is the scorer's only state: each call of `staticKey` (once per VM to place) records the
 * request as an observation, so a policy instance learns from the demand it sees, rejected VMs included.
 */
export class GpuFragmentationScorer implements Scorer {
  static readonly NAME = "gpu-fragmentation";
  readonly name = GpuFragmentationScorer.NAME;
  readonly kind = "stateful" as const;
  readonly mix: GpuWorkloadMix;
  private readonly lossScale: number;

  constructor(opts: GpuWorkloadMixOptions & { lossScaleMilli?: number } = {}) {
    this.mix = new GpuWorkloadMix(opts);
    this.lossScale = opts.lossScaleMilli ?? MILLI_PER_GPU;
  }

  staticKey(r: PlacementRequest): string {
    const shape = taskShapeOf(r);
    this.mix.observe(shape);
    const g = r.gpu;
    const gk = g === undefined ? "-" : g.kind === "vgpu" ? `v${g.vgpuType}` : g.kind === "share" ? `s${g.milli}` : `p${g.count}`;
    return `${this.mix.view().epoch}|${r.vcpus}|${r.memoryMib}|${gk}|${g?.models?.join(",") ?? ""}`;
  }

  prepare({ request }: PlacementContext): ScoreFunction | null {
    const demand = request.gpu;
    if (demand?.kind === "vgpu") return null; // homogeneous vGPU types: vgpu-packing's job
    const view = this.mix.view();
    if (view.groups.length === 0) return null;
    const shape = taskShapeOf(request);
    const need: GpuNeed = { cpuMilli: shape.cpuMilli, memoryMib: shape.memoryMib, count: shape.gpuCount, milli: shape.gpuMilli };
    const choose = (h: FleetHost) => (h.gpus.length === 0 ? null : leastFragmentingChoice(hostState(h, demand), need, view));
    return {
      score: (h) => {
        if (h.gpus.length === 0) return 1;
        const c = choose(h);
        return c === null ? 0 : 1 / (1 + c.usableLoss / this.lossScale);
      },
      pickGpus: (h) => {
        if (demand === undefined) return null;
        // Whole GPUs are interchangeable for the measure: let the topology-aware picker choose them.
        if (demand.kind === "passthrough") return pickLocalGpus(h, demand);
        const c = choose(h);
        if (c === null || c.gpus.length === 0 || !gpuFitsNow(h.gpus[c.gpus[0]!]!, demand)) return null;
        return { gpuIndices: c.gpus, mode: "share", shareMilli: demand.milli };
      },
    };
  }
}
