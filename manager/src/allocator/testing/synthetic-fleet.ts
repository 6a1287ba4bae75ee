// A synthetic cloud for the allocator benchmarks: CPU hosts and 8-GPU HGX-like hosts in pods
// and clusters, about 10 VMs per host already placed, and a request mix drawn from a seed.

import { seededRandom } from "../prng.js";
import { gpuHost, cpuHost } from "./fleet-builder.js";
import type {
  ClusterSnapshot,
  FleetSnapshot,
  GpuUse,
  GpuWorkloadShape,
  HostSnapshot,
  HostVm,
  PlacementRequest,
  VgpuTypeSpec,
} from "../types.js";

export const H100_VGPU_TYPES: readonly VgpuTypeSpec[] = [
  { name: "H100-20C", maxInstances: 4 },
  { name: "H100-10C", maxInstances: 8 },
  { name: "H100-1-10C", maxInstances: 7, migSlices: 1 },
  { name: "H100-3-40C", maxInstances: 2, migSlices: 3 },
];

export interface SyntheticFleetOptions {
  hosts: number;
  /** Share of hosts that carry 8 GPUs. */
  gpuShare?: number;
  vmsPerHost?: number;
  seed?: number;
  accounts?: number;
  /** Attach the request mix's GPU shapes as the fleet's GPU workload, as the manager does (default true). */
  gpuWorkload?: boolean;
}

/** The GPU shapes of `syntheticRequests`, weighted by how often it draws them (as GPU flavors would be). */
export function syntheticGpuWorkload(): GpuWorkloadShape[] {
  const out: GpuWorkloadShape[] = [];
  for (const vcpus of [1, 2, 4, 8]) {
    for (const count of [1, 2, 4, 8]) out.push({ vcpus, memoryMib: vcpus * 4096, gpuCount: count, gpuMilli: 1000, models: ["H100 80GB"], weight: 0.1 / 16 });
    for (let k = 1; k <= 9; k++) out.push({ vcpus, memoryMib: vcpus * 4096, gpuCount: 1, gpuMilli: 100 * k, weight: 0.05 / 36 });
  }
  return out;
}

/** Hosts in clusters of 50 and pods of 500; GPU hosts half used (4 GPUs passed through). */
export function syntheticFleet(o: SyntheticFleetOptions): FleetSnapshot {
  const rnd = seededRandom(o.seed ?? 42);
  const gpuShare = o.gpuShare ?? 0.3;
  const vmsPerHost = o.vmsPerHost ?? 10;
  const accounts = o.accounts ?? 1000;
  const hosts: HostSnapshot[] = [];
  const clusters: ClusterSnapshot[] = [];
  let vmSeq = 0;
  for (let i = 0; i < o.hosts; i++) {
    const id = `h${String(i).padStart(5, "0")}`;
    const cluster = `c${Math.floor(i / 50)}`;
    if (i % 50 === 0) clusters.push({ id: cluster });
    const pod = `p${Math.floor(i / 500)}`;
    const isGpu = rnd() < gpuShare;
    const vms: HostVm[] = [];
    let cpu = 0;
    let mem = 0;
    const tags = rnd() < 0.2 ? ["ssd"] : [];
    const osTypes = rnd() < 0.1 ? ["windows"] : [];
    const nVms = Math.max(0, Math.round(vmsPerHost * (0.5 + rnd())));
    const gpuUsed = isGpu ? Math.floor(rnd() * 5) : 0;
    for (let v = 0; v < nVms; v++) {
      const vcpus = isGpu && v < gpuUsed ? 16 : 2 ** Math.floor(rnd() * 3);
      cpu += vcpus;
      mem += vcpus * 4096;
      vms.push({
        vmId: `vm${vmSeq++}`,
        accountId: `acct${Math.floor(rnd() * accounts)}`,
        ...(rnd() < 0.05 && { affinityGroupIds: [`ag${Math.floor(rnd() * 200)}`] }),
      });
    }
    const base = { environment: "env1", pod, cluster, tags, osTypes, vms };
    if (isGpu) {
      const gpuUse = (gi: number): GpuUse => (gi < gpuUsed ? { kind: "passthrough" } : { kind: "free" });
      hosts.push(gpuHost(id, { ...base, vgpuTypes: H100_VGPU_TYPES, migSlices: 7, gpuUse,
        cpu: { total: 192, allocated: cpu }, memory: { totalMib: 2048 * 1024, reservedMib: 16384, allocatedMib: mem } }));
    } else {
      hosts.push(cpuHost(id, { ...base, cpu: { total: 128, allocated: cpu }, memory: { totalMib: 512 * 1024, reservedMib: 8192, allocatedMib: mem } }));
    }
  }
  return { hosts, clusters, ...(o.gpuWorkload !== false && { gpuWorkload: syntheticGpuWorkload() }) };
}

/** A request mix: mostly CPU VMs, some with tags, OS type, anti-affinity or avoid; 20% GPU VMs. */
export function syntheticRequests(n: number, seed = 7, accounts = 1000): PlacementRequest[] {
  const rnd = seededRandom(seed);
  const out: PlacementRequest[] = [];
  for (let i = 0; i < n; i++) {
    const x = rnd();
    const vcpus = 2 ** Math.floor(rnd() * 4);
    const r: PlacementRequest = {
      vcpus,
      memoryMib: vcpus * 4096,
      accountId: `acct${Math.floor(rnd() * accounts)}`,
      environment: "env1",
      hypervisor: "KVM",
      vmIds: [`new${i}`],
    };
    if (rnd() < 0.1) r.hostTags = ["ssd"];
    if (rnd() < 0.1) r.osType = rnd() < 0.5 ? "windows" : "linux";
    if (rnd() < 0.05) r.affinityGroups = [{ id: `ag${Math.floor(rnd() * 200)}`, kind: "host-anti-affinity", strict: rnd() < 0.5 }];
    if (rnd() < 0.05) r.avoidVmIds = [`vm${Math.floor(rnd() * 1000)}`];
    if (x < 0.1) r.gpu = { kind: "passthrough", count: [1, 2, 4, 8][Math.floor(rnd() * 4)]!, models: ["H100 80GB"] };
    else if (x < 0.15) r.gpu = { kind: "vgpu", vgpuType: H100_VGPU_TYPES[Math.floor(rnd() * H100_VGPU_TYPES.length)]!.name };
    else if (x < 0.2) r.gpu = { kind: "share", milli: 100 * (1 + Math.floor(rnd() * 9)) };
    out.push(r);
  }
  return out;
}
