// GPU feasibility rules shared by the GPU filters, the GPU scorers and the in-host GPU pickers.
// CloudStack's rules: a GPU is free, passed through to one VM, or hosts vGPUs; a passthrough GPU
// hosts no vGPU and vice versa; time-sliced vGPU types are homogeneous (one type per GPU).
// Orbit's additions: MIG-backed vGPU types share a GPU by MIG slices; fractional shares
// (time-sliced, arbitrary milli) share a GPU with other shares only.

import * as fleet from "../fleet.js";
import type { FleetHost, GpuState } from "../fleet.js";
import type { GpuDemand, VgpuTypeSpec } from "../types.js";

// Module-local copies: under tsx every read of an imported binding is a getter call, and these
// are read in the placement hot loop.
const GPU_FREE = fleet.GPU_FREE;
const GPU_SHARE = fleet.GPU_SHARE;
const GPU_VGPU = fleet.GPU_VGPU;
const MILLI_PER_GPU = fleet.MILLI_PER_GPU;

export function modelAllowed(models: readonly string[] | undefined, model: string): boolean {
  if (models === undefined || models.length === 0) return true;
  for (const m of models) if (m === model) return true;
  return false;
}

/** Can this GPU take one more instance of `spec`? */
export function canAddVgpu(g: GpuState, spec: VgpuTypeSpec): boolean {
  const slices = spec.migSlices ?? 0;
  if (slices > 0 && slices > (g.src.migSlices ?? 0)) return false;
  if (g.mode === GPU_FREE) return spec.maxInstances >= 1;
  if (g.mode !== GPU_VGPU || g.vgpus === null) return false;
  const have = g.vgpus.get(spec.name) ?? 0;
  if (have >= spec.maxInstances) return false;
  if (slices > 0) {
    // MIG-backed: mixes only with other MIG-backed types, bounded by the GPU's slices.
    for (const t of g.vgpus.keys()) if ((g.vgpuSpec(t)?.migSlices ?? 0) === 0) return false;
    return g.migUsed + slices <= (g.src.migSlices ?? 0);
  }
  // Time-sliced: homogeneous.
  return g.vgpus.size === 1 && have > 0;
}

export function canAddShare(g: GpuState, milli: number): boolean {
  if (g.src.allowShares === false) return false;
  if (g.mode === GPU_FREE) return milli <= MILLI_PER_GPU;
  return g.mode === GPU_SHARE && g.shareMilli + milli <= MILLI_PER_GPU;
}

/** Does this GPU, empty, ever fit the demand (model, type support, sharing allowed)? */
export function gpuEverFits(g: GpuState, demand: GpuDemand): boolean {
  if (!modelAllowed(demand.models, g.model)) return false;
  switch (demand.kind) {
    case "passthrough":
      return true;
    case "vgpu": {
      const spec = g.vgpuSpec(demand.vgpuType);
      if (spec === undefined || spec.maxInstances < 1) return false;
      const slices = spec.migSlices ?? 0;
      return slices === 0 || slices <= (g.src.migSlices ?? 0);
    }
    case "share":
      return g.src.allowShares !== false && demand.milli <= MILLI_PER_GPU;
  }
}

/** Does this GPU fit the demand now (for one GPU of it)? */
export function gpuFitsNow(g: GpuState, demand: GpuDemand): boolean {
  if (!modelAllowed(demand.models, g.model)) return false;
  switch (demand.kind) {
    case "passthrough":
      return g.mode === GPU_FREE;
    case "vgpu": {
      const spec = g.vgpuSpec(demand.vgpuType);
      return spec !== undefined && canAddVgpu(g, spec);
    }
    case "share":
      return canAddShare(g, demand.milli);
  }
}

/** GPUs needed on the host for the demand. */
export function gpusNeeded(demand: GpuDemand): number {
  return demand.kind === "passthrough" ? demand.count : 1;
}

/**
 * Most GPUs of one allowed model that fit now (or, with `ever`, would fit if empty). Hot path:
 * no allocation, and a shortcut for hosts whose GPUs are all one model.
 */
export function fitCount(host: FleetHost, demand: GpuDemand, ever: boolean): number {
  const gpus = host.gpus;
  if (gpus.length === 0) return 0;
  const model = host.gpuModel;
  if (model === null) return bestModelCount(host, demand, ever).count;
  if (!modelAllowed(demand.models, model)) return 0;
  if (demand.kind === "passthrough") return ever ? gpus.length : host.gpusFree;
  let n = 0;
  for (let i = 0; i < gpus.length; i++) if (ever ? gpuEverFits(gpus[i]!, demand) : gpuFitsNow(gpus[i]!, demand)) n++;
  return n;
}

/**
 * Most GPUs of one allowed model that fit now (passthrough VMs take GPUs of a single model).
 * `ever` counts GPUs that would fit if empty instead.
 */
export function bestModelCount(host: FleetHost, demand: GpuDemand, ever: boolean): { model: string; count: number } {
  const gpus = host.gpus;
  let bestModel = "";
  let best = 0;
  // Hosts almost always carry one model: count the common case without a map.
  for (let i = 0; i < gpus.length; i++) {
    const m = gpus[i]!.model;
    if (m === bestModel) continue;
    let n = 0;
    for (let j = i; j < gpus.length; j++) {
      const g = gpus[j]!;
      if (g.model === m && (ever ? gpuEverFits(g, demand) : gpuFitsNow(g, demand))) n++;
    }
    if (n > best) {
      best = n;
      bestModel = m;
    }
  }
  return { model: bestModel, count: best };
}

/**
 * Locality groups of a host's GPUs, strongest first: same NVLink domain and NUMA node, same
 * NVLink domain, same NUMA node. Static per host, so computed once per host snapshot.
 */
export const LOCALITY_KINDS = ["numa+nvlink", "nvlink", "numa"] as const;
export type LocalityKind = (typeof LOCALITY_KINDS)[number];

interface GpuTopology {
  /** Per kind: group id of each GPU (-1: in no group of that kind). */
  groupOf: Int32Array[];
  groupCount: number[];
}

const topologies = new WeakMap<object, GpuTopology>();

function topologyOf(host: FleetHost): GpuTopology {
  let t = topologies.get(host.src);
  if (t !== undefined) return t;
  const keys: Map<string, number>[] = LOCALITY_KINDS.map(() => new Map());
  const groupOf = LOCALITY_KINDS.map(() => new Int32Array(host.gpus.length).fill(-1));
  for (const g of host.gpus) {
    const domain = g.src.nvlinkDomain ?? nvlinkDomainFromPeers(host, g);
    const numa = g.numaNode;
    const kindKeys = [domain !== undefined && numa >= 0 ? `${domain}/${numa}` : undefined, domain, numa >= 0 ? String(numa) : undefined];
    kindKeys.forEach((key, k) => {
      if (key === undefined) return;
      const m = keys[k]!;
      let id = m.get(key);
      if (id === undefined) m.set(key, (id = m.size));
      groupOf[k]![g.index] = id;
    });
  }
  t = { groupOf, groupCount: keys.map((m) => m.size) };
  topologies.set(host.src, t);
  return t;
}

/** Without a domain id, a GPU and its direct NVLink peers form a domain named by the smallest id. */
function nvlinkDomainFromPeers(host: FleetHost, g: GpuState): string | undefined {
  const peers = g.src.nvlinkPeers;
  if (peers === undefined || peers.length === 0) return undefined;
  let min = g.src.id;
  for (const p of peers) if (p < min) min = p;
  // Only a clique counts as a domain: every peer must list every other member.
  const members = new Set([g.src.id, ...peers]);
  for (const other of host.gpus) {
    if (!members.has(other.src.id) || other === g) continue;
    const theirs = new Set([other.src.id, ...(other.src.nvlinkPeers ?? [])]);
    for (const m of members) if (!theirs.has(m)) return undefined;
  }
  return `peers:${min}`;
}

export interface LocalFit {
  /** Index into LOCALITY_KINDS (0 is tightest). */
  kind: number;
  group: number;
  /** GPUs of the group that fit now. */
  size: number;
}

// Scratch counters: the allocator is synchronous, so one buffer serves every call.
let counts = new Int32Array(64);

/**
 * The local group to take `count` GPUs (of `model`, fitting now) from: the tightest kind
 * first, and within a kind the smallest group that fits (best fit keeps larger groups whole
 * for larger VMs). Null when no group of any kind has enough.
 */
export function bestLocalFit(host: FleetHost, demand: GpuDemand, model: string, count: number): LocalFit | null {
  const t = topologyOf(host);
  const gpus = host.gpus;
  for (let k = 0; k < LOCALITY_KINDS.length; k++) {
    const n = t.groupCount[k]!;
    if (n === 0) continue;
    if (counts.length < n) counts = new Int32Array(n * 2);
    counts.fill(0, 0, n);
    const of = t.groupOf[k]!;
    const whole = demand.kind === "passthrough";
    for (let i = 0; i < gpus.length; i++) {
      const gid = of[i]!;
      if (gid < 0) continue;
      const g = gpus[i]!;
      // Passthrough needs a free GPU of the model (the model was checked against the request).
      if (g.model === model && (whole ? g.mode === GPU_FREE : gpuFitsNow(g, demand))) counts[gid]!++;
    }
    let best = -1;
    for (let gid = 0; gid < n; gid++) {
      const c = counts[gid]!;
      if (c >= count && (best < 0 || c < counts[best]!)) best = gid;
    }
    if (best >= 0) return { kind: k, group: best, size: counts[best]! };
  }
  return null;
}

/** The most GPUs (of `model`, fitting now) any single local group offers. */
export function largestLocalGroup(host: FleetHost, demand: GpuDemand, model: string): number {
  const t = topologyOf(host);
  let largest = 0;
  for (let k = 0; k < LOCALITY_KINDS.length; k++) {
    const n = t.groupCount[k]!;
    const c = new Int32Array(n);
    host.gpus.forEach((g, i) => {
      const gid = t.groupOf[k]![i]!;
      if (gid >= 0 && g.model === model && gpuFitsNow(g, demand)) c[gid]!++;
    });
    for (const v of c) largest = Math.max(largest, v);
  }
  return largest;
}

/** GPU indices (of `model`, fitting now) in a local group. */
export function localGroupGpus(host: FleetHost, demand: GpuDemand, model: string, fit: LocalFit): number[] {
  const of = topologyOf(host).groupOf[fit.kind]!;
  const out: number[] = [];
  host.gpus.forEach((g, i) => {
    if (of[i] === fit.group && g.model === model && gpuFitsNow(g, demand)) out.push(i);
  });
  return out;
}

/** Free GPUs in the same NUMA node as GPU `gi` (the fewer, the less opening it fragments). */
export function freeGpusOnNode(host: FleetHost, gi: number): number {
  const node = host.gpus[gi]!.numaNode;
  let n = 0;
  for (const g of host.gpus) if (g.mode === GPU_FREE && g.numaNode === node) n++;
  return n;
}

/** Free whole GPUs that taking this demand would leave on the host (for best fit). */
export function freeGpusAfter(host: FleetHost, demand: GpuDemand): number {
  if (demand.kind === "passthrough") return host.gpusFree - demand.count;
  // A vGPU or share opens a free GPU only when no partly used GPU can take it.
  for (const g of host.gpus) if (g.mode !== GPU_FREE && gpuFitsNow(g, demand)) return host.gpusFree;
  return host.gpusFree - 1;
}
