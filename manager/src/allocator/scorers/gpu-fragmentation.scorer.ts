import { GPU_FREE, GPU_SHARE, MILLI_PER_GPU, type FleetHost } from "../fleet.js";
import {
  expectedFragmentationMilli, leastFragmentingChoice, leastFragmentingLoss, type GpuHostState, type GpuNeed,
} from "../gpu/gpu-fragmentation.measure.js";
import { gpuFitsNow } from "../gpu/gpu-fit.js";
import { pickLocalGpus } from "../gpu/gpu-pick.js";
import type { GpuWorkloadMixView } from "../gpu/gpu-workload-mix.js";
import type { PlacementContext, ScoreFunction, Scorer } from "../plugin.js";
import type { GpuDemand, PlacementRequest } from "../types.js";

/** The request as the measure sees it (CPU in the request's unit, as the hosts count it). */
export function gpuNeedOf(r: PlacementRequest, withCpuAndMemory: boolean): GpuNeed {
  const cpu = withCpuAndMemory ? r.vcpus : 0;
  const memoryMib = withCpuAndMemory ? r.memoryMib : 0;
  const g = r.gpu;
  if (g === undefined || g.kind === "vgpu") return { cpu, memoryMib, count: 0, milli: 0 };
  if (g.kind === "share") return { cpu, memoryMib, count: 1, milli: Math.min(g.milli, MILLI_PER_GPU) };
  return { cpu, memoryMib, count: g.count, milli: MILLI_PER_GPU };
}

// Scratch arrays for the host view, one per GPU count: one host is scored at a time.
const freeScratch: Float64Array[] = [];

/** Free milli of each GPU usable by passthrough and shares; GPUs of models the request may not use count as used. */
function freeMilli(h: FleetHost, demand: GpuDemand | undefined): Float64Array {
  const n = h.gpus.length;
  const free = (freeScratch[n] ??= new Float64Array(n));
  const models = demand?.models;
  for (let i = 0; i < n; i++) {
    const g = h.gpus[i]!;
    const allowed = models === undefined || models.length === 0 || models.includes(g.model);
    free[i] = !allowed ? 0 : g.mode === GPU_FREE ? MILLI_PER_GPU : g.mode === GPU_SHARE ? MILLI_PER_GPU - g.shareMilli : 0;
  }
  return free;
}

// The host as the measure sees it: reused (one host is scored at a time).
const view: GpuHostState = { cpuFree: 0, memoryFreeMib: 0, gpuFreeMilli: [], model: "" };

/** Fills `view` for the host; returns its current expected fragmentation (memoised on the host when shared by all requests). */
function viewHost(h: FleetHost, demand: GpuDemand | undefined, mix: GpuWorkloadMixView): number {
  const free = freeMilli(h, demand);
  view.cpuFree = h.cpuFree;
  view.memoryFreeMib = h.memFree;
  view.gpuFreeMilli = free;
  view.model = h.gpus[0]!.model;
  // One model on the host and the request may use it: the view is the host's own, the same for all requests.
  const shared = h.gpuModel !== null && (demand?.models === undefined || demand.models.length === 0 || demand.models.includes(h.gpuModel));
  if (!shared) return expectedFragmentationMilli(h.cpuFree, h.memFree, free, view.model, mix);
  return memoFor(h, mix).value;
}

/** Small ids for GPU needs (the memo's index); few distinct needs exist (flavors). */
const needIds = new Map<string, number>();
function needIdOf(key: string): number {
  let id = needIds.get(key);
  if (id === undefined) needIds.set(key, (id = needIds.size));
  return id;
}

/** The host's memo, reset when the host or the workload changed. */
function memoFor(h: FleetHost, mix: GpuWorkloadMixView): FleetHost["fragmentationMemo"] {
  const m = h.fragmentationMemo;
  if (m.version !== h.version || m.epoch !== mix.epoch) {
    m.value = expectedFragmentationMilli(h.cpuFree, h.memFree, freeMilli(h, undefined), h.gpus[0]!.model, mix);
    m.version = h.version;
    m.epoch = mix.epoch;
    m.scores.length = 0;
  }
  return m;
}

/**
 * Fragmentation-aware GPU placement (after FGD, Weng et al., USENIX ATC '23): prefer the host and
 * GPUs whose use least increases the host's expected fragmentation under the fleet's GPU workload
 * (`FleetSnapshot.gpuWorkload`: in the manager, the GPU flavors weighted by the VMs running them;
 * a generic prior when absent). See gpu/gpu-fragmentation.measure.ts for the measure: it counts GPUs
 * stranded by missing CPU or memory as well as share leftovers no task can use. It scores CPU-only
 * VMs too, on GPU hosts: their CPU and memory may strand the GPUs.
 *
 * Score = 1 / (1 + loss / 1000), where loss is the expected usable GPU capacity (milli) the placement
 * removes: what it takes, weighted by the share of the workload that may use the host's GPU model
 * (so rarely demanded models are used first), plus what it strands. A CPU-only VM that strands
 * nothing scores 1; one that strands one GPU's worth, 1/2.
 *
 * Ranking: requests are grouped by their GPU need alone; the ranking holds the score without the
 * request's own CPU and memory (an upper bound: using them can only strand more), and `refine`
 * gives the exact score for the few hosts the engine walks. vGPU requests are vgpu-packing's job.
 *
 * Pair it with a stable host order (`firstfit` at a quarter of its weight): where the losses of two
 * hosts differ little, the order keeps packing the hosts already opened, which keeps empty hosts for
 * the rare big VMs a one-step measure undervalues (trace replay: BENCHMARKS.md).
 */
export class GpuFragmentationScorer implements Scorer {
  static readonly NAME = "gpu-fragmentation";
  readonly name = GpuFragmentationScorer.NAME;
  readonly kind = "stateful" as const;

  constructor(private readonly lossScale = MILLI_PER_GPU) {}

  staticKey(r: PlacementRequest): string {
    const g = r.gpu;
    if (g === undefined) return "-";
    const models = g.models?.join(",") ?? "";
    return g.kind === "vgpu" ? "v" : g.kind === "share" ? `s${g.milli}|${models}` : `p${g.count}|${models}`;
  }

  /** The bound: the score as if the request took no CPU or memory. */
  prepare({ request, fleet }: PlacementContext): ScoreFunction | null {
    if (request.gpu === undefined || request.gpu.kind === "vgpu") return null; // bound 1 everywhere
    return this.scoreFunction(request, fleet.gpuWorkload, false);
  }

  refine({ request, fleet }: PlacementContext): ScoreFunction | null {
    const mix = fleet.gpuWorkload;
    if (request.gpu?.kind === "vgpu" || mix.groups.length === 0) return null;
    // A CPU-only VM changes nothing for a workload that needs no CPU or memory.
    if (request.gpu === undefined && mix.groups.every((g) => g.gpuOnly)) return null;
    return this.scoreFunction(request, mix, true);
  }

  private scoreFunction(request: PlacementRequest, mix: GpuWorkloadMixView, exact: boolean): ScoreFunction | null {
    if (mix.groups.length === 0) return null;
    const demand = request.gpu;
    const need = gpuNeedOf(request, exact);
    const scale = this.lossScale;
    const score = (h: FleetHost): number => {
      const before = viewHost(h, demand, mix);
      const loss = leastFragmentingLoss(view, need, mix, before);
      return loss < 0 ? 0 : 1 / (1 + loss / scale);
    };
    // The ranking's bound depends on the host and the GPU need only: memoised per host across classes.
    const needId = exact ? -1 : needIdOf(this.staticKey(request));
    return {
      score: (h) => {
        if (h.gpus.length === 0) return 1;
        if (exact || h.gpuModel === null) return score(h);
        const memo = memoFor(h, mix).scores;
        let s = memo[needId];
        if (s === undefined) memo[needId] = s = score(h);
        return s;
      },
      ...(exact && demand !== undefined && {
        pickGpus: (h: FleetHost) => {
          // Whole GPUs are interchangeable for the measure: let the topology-aware picker choose them.
          if (demand.kind === "passthrough") return pickLocalGpus(h, demand);
          if (demand.kind !== "share") return null;
          const c = leastFragmentingChoice(view, need, mix, viewHost(h, demand, mix));
          if (c === null || c.gpus.length === 0 || !gpuFitsNow(h.gpus[c.gpus[0]!]!, demand)) return null;
          return { gpuIndices: c.gpus, mode: "share" as const, shareMilli: demand.milli };
        },
      }),
    };
  }
}
