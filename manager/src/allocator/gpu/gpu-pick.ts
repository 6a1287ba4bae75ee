// Choosing GPUs inside the winning host. `pickFirstGpus` is the plain CloudStack-style choice
// (first GPUs that fit, in host order); the topology-aware pickers are offered by the GPU
// scorers (gpu-locality, vgpu-packing) and win when those scorers are in the policy.

import { GPU_FREE, GPU_SHARE, GPU_VGPU, MILLI_PER_GPU, type FleetHost } from "../fleet.js";
import type { GpuPick } from "../plugin.js";
import type { GpuDemand } from "../types.js";
import { bestLocalFit, bestModelCount, freeGpusOnNode, gpuFitsNow, localGroupGpus } from "./gpu-fit.js";

function pickOf(demand: GpuDemand, gpuIndices: number[]): GpuPick {
  switch (demand.kind) {
    case "passthrough":
      return { gpuIndices, mode: "passthrough" };
    case "vgpu":
      return { gpuIndices, mode: "vgpu", vgpuType: demand.vgpuType };
    case "share":
      return { gpuIndices, mode: "share", shareMilli: demand.milli };
  }
}

/** First GPUs (host order) that fit; passthrough takes them all of one model. */
export function pickFirstGpus(host: FleetHost, demand: GpuDemand): GpuPick | null {
  const need = demand.kind === "passthrough" ? demand.count : 1;
  const model = bestModelCount(host, demand, false);
  if (model.count < need) return null;
  const out: number[] = [];
  for (const g of host.gpus) {
    if (out.length === need) break;
    if (g.model === model.model && gpuFitsNow(g, demand)) out.push(g.index);
  }
  return pickOf(demand, out);
}

/**
 * Whole GPUs on one NVLink domain and NUMA node when possible (best-fitting group), else the
 * fewest NUMA nodes: take from the nodes with the most free GPUs first.
 */
export function pickLocalGpus(host: FleetHost, demand: GpuDemand): GpuPick | null {
  if (demand.kind !== "passthrough") return pickPackedGpu(host, demand);
  const n = demand.count;
  const model = bestModelCount(host, demand, false);
  if (model.count < n) return null;
  const fit = bestLocalFit(host, demand, model.model, n);
  if (fit !== null) {
    const inGroup = localGroupGpus(host, demand, model.model, fit);
    // Within a larger group, prefer GPUs whose NUMA node has the fewest free: keeps whole nodes free.
    inGroup.sort((a, b) => freeGpusOnNode(host, a) - freeGpusOnNode(host, b) || a - b);
    return pickOf(demand, inGroup.slice(0, n).sort((a, b) => a - b));
  }
  const byNode = new Map<number, number[]>();
  for (const g of host.gpus) {
    if (g.model !== model.model || !gpuFitsNow(g, demand)) continue;
    const list = byNode.get(g.numaNode) ?? [];
    list.push(g.index);
    byNode.set(g.numaNode, list);
  }
  const nodes = [...byNode.values()].sort((a, b) => b.length - a.length || a[0]! - b[0]!);
  const out: number[] = [];
  for (const list of nodes) for (const gi of list) if (out.length < n) out.push(gi);
  return pickOf(demand, out.sort((a, b) => a - b));
}

/**
 * One GPU for a vGPU or share, packing: a GPU already hosting that vGPU type (or shares) with
 * the least room left first; only then a free GPU, on the NUMA node with the fewest free GPUs.
 */
export function pickPackedGpu(host: FleetHost, demand: GpuDemand): GpuPick | null {
  if (demand.kind === "passthrough") return pickLocalGpus(host, demand);
  let best = -1;
  let bestRoom = Infinity;
  let bestFree = -1;
  let bestFreeCount = Infinity;
  for (const g of host.gpus) {
    if (!gpuFitsNow(g, demand)) continue;
    if (g.mode === GPU_FREE) {
      const c = freeGpusOnNode(host, g.index);
      if (c < bestFreeCount) {
        bestFreeCount = c;
        bestFree = g.index;
      }
      continue;
    }
    let room: number;
    if (g.mode === GPU_SHARE) room = (MILLI_PER_GPU - g.shareMilli) / MILLI_PER_GPU;
    else if (g.mode === GPU_VGPU && demand.kind === "vgpu") {
      const spec = g.vgpuSpec(demand.vgpuType)!;
      // MIG-backed mixes: room in slices; time-sliced: room in instances of the type.
      room = spec.migSlices
        ? ((g.src.migSlices ?? 0) - g.migUsed) / (g.src.migSlices ?? 1)
        : (spec.maxInstances - (g.vgpus?.get(spec.name) ?? 0)) / spec.maxInstances;
    } else continue;
    if (room < bestRoom) {
      bestRoom = room;
      best = g.index;
    }
  }
  const gi = best >= 0 ? best : bestFree;
  return gi < 0 ? null : pickOf(demand, [gi]);
}
