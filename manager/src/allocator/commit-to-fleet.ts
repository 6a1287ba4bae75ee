// Recording a placed VM in a snapshot index the caller owns (applyPlan's handed-over index, a
// PlacementSession's): capacity, GPU states, the VM → host and account/group lookups, and the
// change log the cached rankings catch up from.

import { consume } from "./consume.js";
import { GPU_FREE, GPU_PASSTHROUGH, GPU_SHARE, type Fleet, type FleetHost, type GpuState } from "./fleet.js";
import type { GpuPick } from "./plugin.js";
import type { GpuUse, PlacementRequest, VmPlacement } from "./types.js";

const MAX_CHANGE_LOG = 1 << 20;

function pickOf(host: FleetHost, p: VmPlacement): GpuPick | null {
  if (p.gpus.length === 0) return null;
  const first = p.gpus[0]!;
  return {
    gpuIndices: p.gpus.map((a) => {
      const gi = host.gpus.findIndex((g) => g.src.id === a.gpuId);
      if (gi < 0) throw new Error(`plan gives GPU ${a.gpuId} that host ${host.src.id} does not have`);
      return gi;
    }),
    mode: first.mode,
    ...(first.vgpuType !== undefined && { vgpuType: first.vgpuType }),
    ...(first.shareMilli !== undefined && { shareMilli: first.shareMilli }),
  };
}

export function gpuUseOf(g: GpuState): GpuUse {
  if (g.mode === GPU_FREE) return { kind: "free" };
  if (g.mode === GPU_PASSTHROUGH) return { kind: "passthrough" };
  if (g.mode === GPU_SHARE) return { kind: "share", milliUsed: g.shareMilli };
  return { kind: "vgpu", instances: [...(g.vgpus ?? [])].map(([vgpuType, count]) => ({ vgpuType, count })) };
}

/** Records VM `p` of `request` on host `i` of `fleet` (changed in place); returns the host. */
export function commitVm(fleet: Fleet, i: number, request: PlacementRequest, p: VmPlacement, vmId: string): FleetHost {
  const fh = fleet.hosts[i]!;
  consume(fh, fleet.clusters[fh.clusterIndex]!, {
    vcpus: p.vcpus,
    memoryMib: p.memoryMib,
    accountId: request.accountId,
    gpus: pickOf(fh, p),
    numaNode: p.numaNode,
    pinnedCpus: p.pinnedCpus,
  });
  // A long-lived index (a manager's cached snapshot, a long simulation) would grow the log
  // without end: past a bound, drop the cached rankings (rebuilt on next use) with it.
  if (fleet.changeLog.length >= MAX_CHANGE_LOG) {
    fleet.changeLog.length = 0;
    fleet.stages.clear();
  }
  fleet.changeLog.push(i);
  fleet.vmHost.set(vmId, i);
  let ah = fleet.accountHostSets.get(request.accountId);
  if (!ah) fleet.accountHostSets.set(request.accountId, (ah = new Set()));
  ah.add(i);
  for (const g of request.affinityGroups ?? []) {
    let set = fleet.groupHosts.get(g.id);
    if (!set) fleet.groupHosts.set(g.id, (set = new Set()));
    set.add(i);
  }
  return fh;
}
