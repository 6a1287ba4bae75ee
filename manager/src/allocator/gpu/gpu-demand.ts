// A GPU demand as text: the cache key the GPU filters and scorers share and the phrase refusals
// use. A leaf beside gpu-fit.ts, so no plugin borrows these from another plugin.

import type { GpuDemand } from "../types.js";

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

function describeModels(models: readonly string[] | undefined): string {
  return models === undefined || models.length === 0 ? "GPU" : models.join("|");
}
