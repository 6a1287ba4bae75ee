// Taking a placed VM's resources out of a host (and its cluster): the one place both the
// engine's working copy (count > 1) and applyPlan change capacity, so they cannot disagree.

import { GPU_FREE, GPU_PASSTHROUGH, GPU_SHARE, GPU_VGPU, type ClusterState, type FleetHost } from "./fleet.js";
import type { GpuPick } from "./plugin.js";

export interface Consumption {
  vcpus: number;
  memoryMib: number;
  accountId: string;
  gpus: GpuPick | null;
  numaNode: number | undefined;
  pinnedCpus: readonly number[] | undefined;
}

/** Changes `host` and `cluster` in place: callers pass clones (or an index they own). */
export function consume(host: FleetHost, cluster: ClusterState, c: Consumption): void {
  host.version++;
  host.cpuUsed += c.vcpus;
  host.memUsed += c.memoryMib;
  cluster.cpuUsed += c.vcpus;
  cluster.memUsed += c.memoryMib;
  host.vmCount++;
  host.accountVms.set(c.accountId, (host.accountVms.get(c.accountId) ?? 0) + 1);
  if (c.gpus !== null) {
    for (const gi of c.gpus.gpuIndices) {
      const g = host.gpus[gi]!;
      if (g.mode === GPU_FREE) host.gpusFree--;
      switch (c.gpus.mode) {
        case "passthrough":
          g.mode = GPU_PASSTHROUGH;
          break;
        case "vgpu": {
          const type = c.gpus.vgpuType!;
          g.mode = GPU_VGPU;
          g.vgpus ??= new Map();
          g.vgpus.set(type, (g.vgpus.get(type) ?? 0) + 1);
          g.migUsed += g.vgpuSpec(type)?.migSlices ?? 0;
          break;
        }
        case "share":
          g.mode = GPU_SHARE;
          g.shareMilli += c.gpus.shareMilli ?? 0;
          break;
      }
    }
  }
  if (c.numaNode !== undefined && host.numa !== null && c.pinnedCpus !== undefined) {
    const cell = host.numa.find((n) => n.cell.id === c.numaNode);
    if (cell) {
      for (const cpu of c.pinnedCpus) cell.pinned.add(cpu);
      cell.memoryUsedMib += c.memoryMib;
    }
  }
}
