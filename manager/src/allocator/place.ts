// The placement engine: filters (feasibility) then weighted scorers (ranking) over an immutable
// snapshot, for `count` VMs, consuming capacity in a copy-on-write working copy. Pure: the
// result depends only on the snapshot, the request, the policy and the seed.
//
// Speed without sampling: static filters and static/stateful scorers are cached per request
// class as a ranking of hosts (stage.ts). The engine walks that ranking best first, testing the
// dynamic filters, and stops as soon as no remaining host can beat the best total found (a
// dynamic scorer adds at most its weight; a refinable one is ranked by an upper bound): the
// result is the same as a full scan's.

import { InvalidArgumentError } from "#shared/errors.js";
import { consume } from "./consume.js";
import { explainRejection } from "./explain.js";
import { fleetFor } from "./fleet-cache.js";
import type { ClusterState, Fleet, FleetHost } from "./fleet.js";
import { gpuFitsNow } from "./gpu/gpu-fit.js";
import { pickFirstGpus, pickLocalGpus } from "./gpu/gpu-pick.js";
import type { GpuPick, PlacedVm, PlacementContext } from "./plugin.js";
import type { AllocationPolicy } from "./policy-types.js";
import { stageFor, type PreparedFilter, type PreparedScorer, type Stage } from "./stage.js";
import type {
  FleetSnapshot,
  GpuAssignment,
  PlacementRequest,
  PlacementResult,
  ScorerScore,
  VmPlacement,
} from "./types.js";

export interface PlaceOptions {
  seed: number;
  now: Date;
  policy: AllocationPolicy;
}

function validate(r: PlacementRequest): number {
  const count = r.count ?? 1;
  if (!Number.isInteger(count) || count < 1) throw new InvalidArgumentError("count", `count must be a positive integer, got ${count}`);
  if (!(r.vcpus > 0)) throw new InvalidArgumentError("vcpus", `vcpus must be positive, got ${r.vcpus}`);
  if (!(r.memoryMib >= 0)) throw new InvalidArgumentError("memoryMib", `memoryMib must be ≥ 0, got ${r.memoryMib}`);
  const g = r.gpu;
  if (g?.kind === "passthrough" && !(Number.isInteger(g.count) && g.count >= 1)) {
    throw new InvalidArgumentError("gpu.count", `GPU count must be a positive integer, got ${g.count}`);
  }
  if (g?.kind === "share" && !(Number.isInteger(g.milli) && g.milli >= 1 && g.milli <= 1000)) {
    throw new InvalidArgumentError("gpu.milli", `a GPU share is 1..1000 milli, got ${g.milli}`);
  }
  if (g?.kind === "vgpu" && !g.vgpuType) throw new InvalidArgumentError("gpu.vgpuType", "a vGPU demand needs a vGPU type");
  return count;
}

/** Working copy: the snapshot index's arrays until the first change, then copies (per touched host). */
class WorkingCopy {
  hosts: FleetHost[];
  clusters: ClusterState[];
  /** Hosts this request changed (cloned). */
  readonly owned: number[] = [];
  private copied = false;

  constructor(private readonly fleet: Fleet) {
    this.hosts = fleet.hosts;
    this.clusters = fleet.clusters;
  }

  /** A host (and its cluster) this request may change. */
  own(index: number): { host: FleetHost; cluster: ClusterState } {
    if (!this.copied) {
      this.hosts = this.hosts.slice();
      this.clusters = this.clusters.slice();
      this.copied = true;
    }
    let host = this.hosts[index]!;
    if (host === this.fleet.hosts[index]) {
      this.hosts[index] = host = host.clone();
      this.owned.push(index);
    }
    let cluster = this.clusters[host.clusterIndex]!;
    if (cluster === this.fleet.clusters[host.clusterIndex]) this.clusters[host.clusterIndex] = cluster = cluster.clone();
    return { host, cluster };
  }
}

export function place(snapshot: FleetSnapshot, request: PlacementRequest, opts: PlaceOptions): PlacementResult {
  return placeOnFleet(fleetFor(snapshot, opts.policy.config), request, opts);
}

/** place() on an index the caller owns (a PlacementSession's). */
export function placeOnFleet(fleet: Fleet, request: PlacementRequest, opts: PlaceOptions): PlacementResult {
  const count = validate(request);
  const { policy, seed } = opts;
  const work = new WorkingCopy(fleet);
  const placed: PlacedVm[] = [];
  const placements: VmPlacement[] = [];

  for (let vmIndex = 0; vmIndex < count; vmIndex++) {
    const ctx: PlacementContext = {
      request, fleet, hosts: work.hosts, clusters: work.clusters, config: policy.config, vmIndex, placed, seed,
    };
    const stage = stageFor(policy, { ...ctx, hosts: fleet.hosts, clusters: fleet.clusters });
    const checks: PreparedFilter[] = [];
    for (const filter of policy.filters) {
      if (filter.static) continue;
      const check = filter.prepare(ctx);
      if (check !== null) checks.push({ filter, check });
    }
    // Exact scores of refinable scorers (ranked by their bounds in the stage), then the dynamic ones.
    const refined: PreparedScorer[] = [];
    const scorers: PreparedScorer[] = [];
    let dynamicMax = 0;
    let refinedUnbounded = 0;
    for (const { scorer, weight } of policy.scorers) {
      if (scorer.kind === "stateful" && scorer.refine !== undefined) {
        const fn = scorer.refine(ctx);
        if (fn === null) continue;
        refined.push({ name: scorer.name, weight, fn });
        // Without a bound in the stage the exact score may add up to its weight.
        if (!stage.boundScorers.some((b) => b.name === scorer.name)) {
          dynamicMax += weight;
          refinedUnbounded += weight;
        }
      }
      if (scorer.kind !== "dynamic") continue;
      const fn = scorer.prepare(ctx);
      if (fn === null) continue;
      scorers.push({ name: scorer.name, weight, fn });
      dynamicMax += weight;
    }

    const winner = bestHost(fleet, work, stage, checks, refined, refinedUnbounded, scorers, dynamicMax);
    if (winner < 0) {
      return { ok: false, rejection: explainRejection(request, count, vmIndex, work.hosts, policy, stage.checks, checks) };
    }

    const host = work.hosts[winner]!;
    const all = [...stage.staticScorers, ...stage.statefulScorers, ...refined, ...scorers];
    const gpus = request.gpu === undefined ? null : pickGpus(host, request, all);
    const numa = gpus === null ? null : numaBinding(host, gpus, request);
    const scores: ScorerScore[] = [];
    let total = 0;
    for (const s of all) {
      const score = s.fn.score(host);
      scores.push({ scorer: s.name, score, weight: s.weight });
      total += s.weight * score;
    }
    const vmId = request.vmIds?.[vmIndex];
    placements.push({
      index: vmIndex,
      ...(vmId !== undefined && { vmId }),
      hostId: host.src.id,
      hostName: host.src.name,
      ...(host.src.generation !== undefined && { hostGeneration: host.src.generation }),
      vcpus: request.vcpus,
      memoryMib: request.memoryMib,
      gpus: gpus === null ? [] : assignments(host, gpus),
      ...(numa?.node !== undefined && { numaNode: numa.node }),
      ...(numa?.cpus !== undefined && { pinnedCpus: numa.cpus }),
      scores,
      total,
    });
    placed.push({ hostIndex: winner, vmId });
    // The last VM's resources need not be taken: the working copy is thrown away.
    if (vmIndex + 1 < count) {
      const owned = work.own(winner);
      consume(owned.host, owned.cluster, {
        vcpus: request.vcpus,
        memoryMib: request.memoryMib,
        accountId: request.accountId,
        gpus,
        numaNode: numa?.node,
        pinnedCpus: numa?.cpus,
      });
    }
  }
  return { ok: true, plan: { placements, policy: policy.name, seed, decidedAt: opts.now } };
}

const NO_SCORES = new Float64Array(0);

/** Index of the best feasible host, or -1 (ties go to the lower host index, as in a full scan). */
function bestHost(
  fleet: Fleet,
  work: WorkingCopy,
  stage: Stage,
  checks: readonly PreparedFilter[],
  refined: readonly PreparedScorer[],
  /** Weight of the refined scorers without a bound in the stage (they may add up to it). */
  refinedUnbounded: number,
  scorers: readonly PreparedScorer[],
  dynamicMax: number,
): number {
  const key = stage.key;
  const nChecks = checks.length;
  const nRefined = refined.length;
  const nScorers = scorers.length;
  const hosts = work.hosts;
  let best = -1;
  let bestTotal = -Infinity;
  // Filters first (a full host fails its first check at once), unless every dynamic scorer says
  // it is cheaper than the filters (random): then score first and test only hosts that would win.
  const scoreFirst = nRefined === 0 && nScorers > 0 && scorers.every((s) => s.fn.cheap === true);
  const dyn = nScorers === 0 ? NO_SCORES : new Float64Array(nScorers);
  // `room`: the most the refined scores can add on this host (their bounds), for skipping costly
  // exact scores on hosts that cannot win anyway.
  const consider = (i: number, h: FleetHost, base: number, room: number): void => {
    if (!scoreFirst) for (let c = 0; c < nChecks; c++) if (!checks[c]!.check.test(h)) return;
    let total = base;
    if (nRefined > 0) {
      let d = 0;
      for (let s = 0; s < nScorers; s++) d += (dyn[s] = scorers[s]!.weight * scorers[s]!.fn.score(h));
      const most = base + room + d + 1e-9;
      if (most < bestTotal || (most === bestTotal && i > best)) return;
      // Summed in the reference order (refined, then dynamic) so that float ties agree.
      for (let s = 0; s < nRefined; s++) total += refined[s]!.weight * refined[s]!.fn.score(h);
      for (let s = 0; s < nScorers; s++) total += dyn[s]!;
    } else {
      for (let s = 0; s < nScorers; s++) total += scorers[s]!.weight * scorers[s]!.fn.score(h);
    }
    if (total < bestTotal || (total === bestTotal && i > best)) return;
    if (scoreFirst) for (let c = 0; c < nChecks; c++) if (!checks[c]!.check.test(h)) return;
    bestTotal = total;
    best = i;
  };
  // Hosts whose place in the stage's order is stale: changed by applyPlan, or by earlier VMs
  // of this request (those are scored as they are now, in the working copy).
  const base = stage.base;
  let refinedMax = 0;
  for (const r of refined) refinedMax += r.weight;
  for (const i of stage.changed) if (hosts[i] === fleet.hosts[i]) consider(i, hosts[i]!, base[i]!, key[i]! - base[i]! + refinedUnbounded);
  for (const i of work.owned) if (stage.eligible[i]) consider(i, hosts[i]!, stage.baseOf(hosts[i]!), refinedMax);
  const order = stage.hostOrder;
  const isChanged = stage.isChanged;
  for (let p = 0; p < order.length; p++) {
    const i = order[p]!;
    if (isChanged[i] || hosts[i] !== fleet.hosts[i]) continue;
    // Keys only fall along the order, and equal keys come by host index: once the bound
    // cannot beat the best (the epsilon absorbs float rounding), nothing further can.
    const bound = key[i]! + dynamicMax;
    if (bound + 1e-9 < bestTotal || (bound === bestTotal && i > best)) break;
    consider(i, hosts[i]!, base[i]!, key[i]! - base[i]! + refinedUnbounded);
  }
  return best;
}

function pickGpus(host: FleetHost, request: PlacementRequest, scorers: readonly PreparedScorer[]): GpuPick {
  const demand = request.gpu!;
  const pickers = scorers.filter((s) => s.fn.pickGpus !== undefined).sort((a, b) => b.weight - a.weight);
  for (const p of pickers) {
    const pick = p.fn.pickGpus!(host);
    if (pick !== null) return checkPick(host, request, pick, p.name);
  }
  // A required locality is a constraint, not a preference: honour it without the locality scorer too.
  const pick = demand.kind === "passthrough" && demand.requireLocality ? pickLocalGpus(host, demand) : pickFirstGpus(host, demand);
  if (pick === null) throw new Error(`allocator bug: host ${host.src.id} passed the GPU filters but has no GPUs for the demand`);
  return pick;
}

/** A scorer's pick is re-checked: a bad one would give a GPU twice. */
function checkPick(host: FleetHost, request: PlacementRequest, pick: GpuPick, scorer: string): GpuPick {
  const demand = request.gpu!;
  const need = demand.kind === "passthrough" ? demand.count : 1;
  const distinct = new Set(pick.gpuIndices);
  const model = host.gpus[pick.gpuIndices[0] ?? -1]?.model;
  const ok =
    pick.gpuIndices.length === need &&
    distinct.size === need &&
    pick.mode === demand.kind &&
    pick.gpuIndices.every((gi) => host.gpus[gi] !== undefined && host.gpus[gi]!.model === model && gpuFitsNow(host.gpus[gi]!, demand));
  if (!ok) throw new Error(`allocator bug: scorer ${scorer} picked GPUs ${pick.gpuIndices.join(",")} on ${host.src.id} that do not fit`);
  return pick;
}

function assignments(host: FleetHost, pick: GpuPick): GpuAssignment[] {
  return pick.gpuIndices.map((gi) => {
    const g = host.gpus[gi]!;
    return {
      gpuId: g.src.id,
      model: g.model,
      mode: pick.mode,
      ...(pick.vgpuType !== undefined && { vgpuType: pick.vgpuType }),
      ...(pick.shareMilli !== undefined && { shareMilli: pick.shareMilli }),
    };
  });
}

/**
 * Whole GPUs all on one NUMA node: bind the VM there and pin its vCPUs to that node's unpinned
 * CPUs when enough are left (and its memory fits the node); otherwise leave it unpinned.
 */
function numaBinding(host: FleetHost, pick: GpuPick, request: PlacementRequest): { node?: number; cpus?: number[] } | null {
  if (pick.mode !== "passthrough") return null;
  const node = host.gpus[pick.gpuIndices[0]!]!.numaNode;
  if (node < 0 || pick.gpuIndices.some((gi) => host.gpus[gi]!.numaNode !== node)) return null;
  const cell = host.numa?.find((n) => n.cell.id === node);
  if (cell === undefined) return { node };
  const need = Math.ceil(request.vcpus);
  if (cell.cell.memoryMib - cell.memoryUsedMib < request.memoryMib) return { node };
  const cpus: number[] = [];
  for (const cpu of cell.cell.cpus) {
    if (cpus.length === need) break;
    if (!cell.pinned.has(cpu)) cpus.push(cpu);
  }
  return cpus.length === need ? { node, cpus } : { node };
}
