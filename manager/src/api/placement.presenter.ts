// Presentation of the scheduler's explanations, whose fields are camelCase in TypeScript
// (allocator results, rejections): each mapped field by field to snake_case, so what a client sees
// is written down here and a new domain field never leaks out unnamed.
import type { Static } from "@sinclair/typebox";
import type { HostRejection } from "#shared/errors.js";
import type { GpuAssignment, HostRefusal, ScorerScore } from "../allocator/types.js";
import type * as S from "./placement.schema.js";

type Refusal = HostRejection & Partial<Pick<HostRefusal, "code" | "unresolvable">>;

/** One host's refusal (admin keys only: it names the host and its free capacity). */
export function capacityRejectionView(r: Refusal): Static<typeof S.CapacityRejection> {
  return {
    host_id: r.hostId, host_name: r.hostName, filter: r.filter, reason: r.reason,
    ...(r.code !== undefined ? { code: r.code } : {}), ...(r.unresolvable !== undefined ? { unresolvable: r.unresolvable } : {}),
  };
}

/** Refusals counted per filter, with no host identity or capacity: what users are shown. */
export function capacitySummaryView(rejections: readonly Refusal[]): Static<typeof S.CapacitySummary> {
  const tally = new Map<string, number>();
  for (const r of rejections) tally.set(r.filter, (tally.get(r.filter) ?? 0) + 1);
  return {
    hosts_refused: rejections.length,
    by_filter: [...tally].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0])).map(([filter, hosts]) => ({ filter, hosts })),
  };
}

export function scoreView(s: ScorerScore): Static<typeof S.ScorerScore> {
  return { scorer: s.scorer, score: s.score, weight: s.weight };
}

export function gpuAssignmentView(g: GpuAssignment): Static<typeof S.GpuAssignment> {
  return {
    gpu_id: g.gpuId, model: g.model, mode: g.mode,
    ...(g.vgpuType !== undefined ? { vgpu_type: g.vgpuType } : {}), ...(g.shareMilli !== undefined ? { share_milli: g.shareMilli } : {}),
  };
}
