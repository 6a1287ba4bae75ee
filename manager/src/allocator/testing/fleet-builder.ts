// A tiny fleet builder for tests and benchmarks: hosts with sane defaults, GPU hosts with a
// NUMA/NVLink layout, and a harness that streams requests through place() + applyPlan().

import { applyPlan } from "../apply-plan.js";
import { place } from "../place.js";
import type { AllocationPolicy } from "../policy-types.js";
import type {
  ClusterSnapshot,
  FleetSnapshot,
  GpuWorkloadShape,
  GpuDevice,
  GpuUse,
  HostSnapshot,
  NumaCell,
  PlacementRequest,
  PlacementResult,
  VgpuTypeSpec,
} from "../types.js";

export type HostOptions = Partial<Omit<HostSnapshot, "id">>;

/** A CPU host: 64 logical CPUs, 256 GiB, Up and Enabled, env "env1", pod "pod1", cluster "c1". */
export function cpuHost(id: string, o: HostOptions = {}): HostSnapshot {
  return {
    name: id,
    environment: "env1",
    pod: "pod1",
    cluster: "c1",
    status: "Up",
    resourceState: "Enabled",
    hypervisor: "KVM",
    cpuType: "amd",
    tags: [],
    cpu: { total: 64, allocated: 0 },
    memory: { totalMib: 256 * 1024, reservedMib: 0, allocatedMib: 0 },
    ...o,
    id,
  };
}

export interface GpuHostOptions extends HostOptions {
  model?: string;
  gpuCount?: number;
  /** NUMA nodes the GPUs are spread over (evenly, in order); CPUs split the same way. */
  numaNodes?: number;
  /** NVLink domain per GPU index (default: one domain for all GPUs); null for none. */
  nvlinkDomainOf?: ((gpuIndex: number) => string | undefined) | null;
  vgpuTypes?: readonly VgpuTypeSpec[];
  migSlices?: number;
  gpuUse?: (gpuIndex: number) => GpuUse;
}

/** An HGX-like host: 8 x "H100 80GB" on 2 NUMA nodes, one NVLink domain, 192 CPUs, 2 TiB. */
export function gpuHost(id: string, o: GpuHostOptions = {}): HostSnapshot {
  const { model = "H100 80GB", gpuCount = 8, numaNodes = 2, nvlinkDomainOf, vgpuTypes, migSlices, gpuUse, ...rest } = o;
  const cpuTotal = rest.cpu?.total ?? 192;
  const perNode = Math.ceil(gpuCount / numaNodes);
  const gpus: GpuDevice[] = Array.from({ length: gpuCount }, (_, i) => {
    const domain = nvlinkDomainOf === null ? undefined : nvlinkDomainOf ? nvlinkDomainOf(i) : `${id}-nvl`;
    return {
      id: `${id}-gpu${i}`,
      model,
      memoryMib: 80 * 1024,
      numaNode: Math.floor(i / perNode),
      ...(domain !== undefined && { nvlinkDomain: domain }),
      use: gpuUse?.(i) ?? { kind: "free" },
      ...(vgpuTypes !== undefined && { vgpuTypes }),
      ...(migSlices !== undefined && { migSlices }),
    };
  });
  const cpusPerNode = Math.floor(cpuTotal / numaNodes);
  const memTotal = rest.memory?.totalMib ?? 2048 * 1024;
  const numa: NumaCell[] = Array.from({ length: numaNodes }, (_, n) => ({
    id: n,
    cpus: Array.from({ length: cpusPerNode }, (_, c) => n * cpusPerNode + c),
    memoryMib: Math.floor(memTotal / numaNodes),
  }));
  return cpuHost(id, {
    cpu: { total: cpuTotal, allocated: 0 },
    memory: { totalMib: memTotal, reservedMib: 0, allocatedMib: 0 },
    numa,
    gpus,
    ...rest,
  });
}

export function fleet(hosts: HostSnapshot[], clusters: ClusterSnapshot[] = [], gpuWorkload?: readonly GpuWorkloadShape[]): FleetSnapshot {
  return { hosts, clusters, ...(gpuWorkload !== undefined && { gpuWorkload }) };
}

/** A 2 vCPU / 4 GiB request of account "a1" in "env1". */
export function vmRequest(o: Partial<PlacementRequest> = {}): PlacementRequest {
  return { vcpus: 2, memoryMib: 4096, accountId: "a1", environment: "env1", ...o };
}

export interface StreamOutcome {
  results: PlacementResult[];
  /** Host name per placed VM, in order (one entry per VM of each request). */
  hostNames: string[];
  snapshot: FleetSnapshot;
}

/** Places the requests one after the other, committing each plan into the next snapshot. */
export function placeStream(
  snapshot: FleetSnapshot,
  requests: readonly PlacementRequest[],
  policy: AllocationPolicy,
  seed = 1,
  stopAtFirstRejection = false,
): StreamOutcome {
  const results: PlacementResult[] = [];
  const hostNames: string[] = [];
  let snap = snapshot;
  for (const [i, r] of requests.entries()) {
    const res = place(snap, r, { seed: seed + i, now: new Date(0), policy });
    results.push(res);
    if (res.ok) {
      for (const p of res.plan.placements) hostNames.push(p.hostName);
      snap = applyPlan(snap, r, res.plan);
    } else if (stopAtFirstRejection) break;
  }
  return { results, hostNames, snapshot: snap };
}
