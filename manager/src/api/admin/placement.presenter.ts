// The dry run's answer (admin API), field by field from the allocator's camelCase result.
import type { Static } from "@sinclair/typebox";
import type { PlacementResult, VmPlacement } from "../../allocator/types.js";
import { capacityRejectionView, gpuAssignmentView, scoreView } from "../placement.presenter.js";
import type { DryRunResult } from "./placement.schema.js";

type DryRunView = Static<typeof DryRunResult>;
type VmPlacementView = Extract<DryRunView, { ok: true }>["plan"]["placements"][number];

function vmPlacementView(p: VmPlacement): VmPlacementView {
  return {
    index: p.index, ...(p.vmId !== undefined ? { vm_id: p.vmId } : {}),
    host_id: p.hostId, host_name: p.hostName, vcpus: p.vcpus, memory_mib: p.memoryMib,
    gpus: p.gpus.map(gpuAssignmentView),
    ...(p.numaNode !== undefined ? { numa_node: p.numaNode } : {}), ...(p.pinnedCpus !== undefined ? { pinned_cpus: p.pinnedCpus } : {}),
    scores: p.scores.map(scoreView), total: p.total,
  };
}

export function dryRunView(r: PlacementResult): DryRunView {
  if (!r.ok) {
    const { rejection } = r;
    return {
      ok: false,
      rejection: { message: rejection.message, vm_index: rejection.vmIndex, unschedulable: rejection.unschedulable, hosts: rejection.hosts.map(capacityRejectionView) },
    };
  }
  const { plan } = r;
  return {
    ok: true,
    plan: { policy: plan.policy, seed: plan.seed, decided_at: plan.decidedAt.toISOString(), placements: plan.placements.map(vmPlacementView) },
  };
}
