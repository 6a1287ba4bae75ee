import { describeModels, fitCount, gpusNeeded } from "../gpu/gpu-fit.js";
import type { Filter, FilterCheck, PlacementContext } from "../plugin.js";
import type { GpuDemand, PlacementRequest } from "../types.js";

/**
 * The host has enough GPUs of an allowed model that could ever serve the demand (supporting
 * the vGPU type, allowing shares). Static: whether they are free is the gpu-capacity filter's job.
 */
export class GpuModelFilter implements Filter {
  static readonly NAME = "gpu-model";
  readonly name = GpuModelFilter.NAME;
  readonly static = true;

  staticKey(r: PlacementRequest): string {
    return demandKey(r.gpu);
  }

  prepare({ request }: PlacementContext): FilterCheck | null {
    const demand = request.gpu;
    if (demand === undefined) return null;
    const need = gpusNeeded(demand);
    return {
      test: (h) => h.gpus.length >= need && fitCount(h, demand, true) >= need,
      explain: (h) => {
        const have = fitCount(h, demand, true);
        return { code: "gpu_model", reason: `needs ${describeDemand(demand)}, host has ${have} such GPU${have === 1 ? "" : "s"}`, unresolvable: true };
      },
    };
  }
}

const demandKeys = new WeakMap<GpuDemand, string>();

/** Cache-key text of a GPU demand (several static/stateful plugins key on it: memoised). */
export function demandKey(d: GpuDemand | undefined): string {
  if (d === undefined) return "";
  let k = demandKeys.get(d);
  if (k === undefined) demandKeys.set(d, (k = computeDemandKey(d)));
  return k;
}

function computeDemandKey(d: GpuDemand): string {
  const models = (d.models ?? []).join(",");
  switch (d.kind) {
    case "passthrough":
      return `p${d.count}${d.requireLocality ? "L" : ""}:${models}`;
    case "vgpu":
      return `v${d.vgpuType}:${models}`;
    case "share":
      return `s${d.milli}:${models}`;
  }
}

export function describeDemand(d: GpuDemand): string {
  switch (d.kind) {
    case "passthrough":
      return `${d.count} x ${describeModels(d.models)}`;
    case "vgpu":
      return `vGPU ${d.vgpuType}${d.models?.length ? ` on ${describeModels(d.models)}` : ""}`;
    case "share":
      return `${d.milli}/1000 of a ${describeModels(d.models)}`;
  }
}
