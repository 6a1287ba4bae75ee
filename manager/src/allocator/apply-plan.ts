// A new snapshot with a plan's VMs on their hosts: what the fleet looks like once the plan is
// committed. For benchmarks and trace replay (and tests) that stream placements; the manager
// itself re-reads PostgreSQL instead. Only touched hosts are new objects.

import { commitVm, gpuUseOf } from "./commit-to-fleet.js";
import { takeFleet } from "./fleet-cache.js";
import type { FleetSnapshot, GpuUse, HostSnapshot, PlacementPlan, PlacementRequest } from "./types.js";

export function applyPlan(snapshot: FleetSnapshot, request: PlacementRequest, plan: PlacementPlan): FleetSnapshot {
  const hosts = snapshot.hosts.slice();
  const next: FleetSnapshot = { ...snapshot, hosts };
  // Reuse the old snapshot's index (if built) for the new one, updated in place.
  const fleet = takeFleet(snapshot, next);
  const indexById = fleet?.hostIndexById ?? new Map(snapshot.hosts.map((h, i) => [h.id, i]));
  const groups = (request.affinityGroups ?? []).map((g) => g.id);

  for (const p of plan.placements) {
    const i = indexById.get(p.hostId);
    if (i === undefined) throw new Error(`plan places a VM on unknown host ${p.hostId}`);
    const old = hosts[i]!;
    const vmId = p.vmId ?? `${old.id}#${(old.vms ?? []).length}`;
    const vm = { vmId, accountId: request.accountId, ...(groups.length > 0 && { affinityGroupIds: groups }) };
    let gpus = old.gpus;
    let numa = old.numa;
    if (fleet !== undefined) {
      const fh = commitVm(fleet, i, request, p, vmId);
      if (p.gpus.length > 0) gpus = old.gpus?.map((g, gi) => ({ ...g, use: gpuUseOf(fh.gpus[gi]!) }));
    } else if (p.gpus.length > 0) {
      gpus = old.gpus?.map((g) => {
        const a = p.gpus.find((x) => x.gpuId === g.id);
        if (a === undefined) return g;
        return { ...g, use: addUse(g.use, a.mode, a.vgpuType, a.shareMilli) };
      });
    }
    if (p.pinnedCpus !== undefined && numa !== undefined) {
      numa = numa.map((c) =>
        c.id === p.numaNode
          ? { ...c, pinnedCpus: [...(c.pinnedCpus ?? []), ...p.pinnedCpus!], allocatedMemoryMib: (c.allocatedMemoryMib ?? 0) + p.memoryMib }
          : c,
      );
    }
    const updated: HostSnapshot = {
      ...old,
      cpu: { ...old.cpu, allocated: old.cpu.allocated + p.vcpus },
      memory: { ...old.memory, allocatedMib: old.memory.allocatedMib + p.memoryMib },
      vms: [...(old.vms ?? []), vm],
      ...(gpus !== undefined && { gpus }),
      ...(numa !== undefined && { numa }),
    };
    hosts[i] = updated;
  }
  return next;
}

function addUse(use: GpuUse, mode: "passthrough" | "vgpu" | "share", vgpuType?: string, milli?: number): GpuUse {
  switch (mode) {
    case "passthrough":
      return { kind: "passthrough" };
    case "share":
      return { kind: "share", milliUsed: (use.kind === "share" ? use.milliUsed : 0) + (milli ?? 0) };
    case "vgpu": {
      const instances = use.kind === "vgpu" ? use.instances.map((x) => ({ ...x })) : [];
      const hit = instances.find((x) => x.vgpuType === vgpuType);
      if (hit) hit.count++;
      else instances.push({ vgpuType: vgpuType!, count: 1 });
      return { kind: "vgpu", instances };
    }
  }
}
