// Presentation of domain objects whose fields are camelCase in TypeScript (allocator results,
// rejections, stored placements): each mapped field by field to the API's snake_case, so what a
// client sees is written down here and a new domain field never leaks out unnamed.
import type { HostRejection } from "#shared/errors.js";
import type { GpuAssignment, HostRefusal, PlacementRejection, PlacementResult, ScorerScore, VmPlacement } from "../allocator/types.js";

type Refusal = HostRejection & Partial<Pick<HostRefusal, "code" | "unresolvable">>;

/** One host's refusal (admin keys only: it names the host and its free capacity). */
export function capacityRejectionView(r: Refusal): Record<string, unknown> {
  return {
    host_id: r.hostId, host_name: r.hostName, filter: r.filter, reason: r.reason,
    ...(r.code !== undefined ? { code: r.code } : {}), ...(r.unresolvable !== undefined ? { unresolvable: r.unresolvable } : {}),
  };
}

/** Refusals counted per filter, with no host identity or capacity: what users are shown. */
export function capacitySummaryView(rejections: readonly Refusal[]): { hosts_refused: number; by_filter: { filter: string; hosts: number }[] } {
  const tally = new Map<string, number>();
  for (const r of rejections) tally.set(r.filter, (tally.get(r.filter) ?? 0) + 1);
  return {
    hosts_refused: rejections.length,
    by_filter: [...tally].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0])).map(([filter, hosts]) => ({ filter, hosts })),
  };
}

export function scoreView(s: ScorerScore): Record<string, unknown> {
  return { scorer: s.scorer, score: s.score, weight: s.weight };
}

export function gpuAssignmentView(g: GpuAssignment): Record<string, unknown> {
  return {
    gpu_id: g.gpuId, model: g.model, mode: g.mode,
    ...(g.vgpuType !== undefined ? { vgpu_type: g.vgpuType } : {}), ...(g.shareMilli !== undefined ? { share_milli: g.shareMilli } : {}),
  };
}

/** What vm-service stores in vms.placement (see VmService.create). */
export interface StoredPlacement { policy: string; seed: number; host: string; scores: ScorerScore[]; total: number; gpus: GpuAssignment[] }

export function storedPlacementView(p: StoredPlacement): Record<string, unknown> {
  return {
    policy: p.policy, seed: p.seed, host: p.host, total: p.total,
    scores: (p.scores ?? []).map(scoreView), gpus: (p.gpus ?? []).map(gpuAssignmentView),
  };
}

function vmPlacementView(p: VmPlacement): Record<string, unknown> {
  return {
    index: p.index, ...(p.vmId !== undefined ? { vm_id: p.vmId } : {}),
    host_id: p.hostId, host_name: p.hostName, vcpus: p.vcpus, memory_mib: p.memoryMib,
    gpus: p.gpus.map(gpuAssignmentView),
    ...(p.numaNode !== undefined ? { numa_node: p.numaNode } : {}), ...(p.pinnedCpus !== undefined ? { pinned_cpus: p.pinnedCpus } : {}),
    scores: p.scores.map(scoreView), total: p.total,
  };
}

function rejectionView(r: PlacementRejection): Record<string, unknown> {
  return { message: r.message, vm_index: r.vmIndex, unschedulable: r.unschedulable, hosts: r.hosts.map(capacityRejectionView) };
}

/** The dry run's answer (admin API). */
export function dryRunView(r: PlacementResult): Record<string, unknown> {
  if (!r.ok) return { ok: false, rejection: rejectionView(r.rejection) };
  const { plan } = r;
  return {
    ok: true,
    plan: { policy: plan.policy, seed: plan.seed, decided_at: plan.decidedAt.toISOString(), placements: plan.placements.map(vmPlacementView) },
  };
}
