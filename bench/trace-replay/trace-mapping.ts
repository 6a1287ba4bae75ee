// Trace records → the allocator core's snapshot and requests. CPU is kept in milli-vCPU on both sides
// (host capacity = cpu_milli, request vcpus = cpu_milli), so fractional vCPU requests stay exact.
import type { FleetSnapshot, GpuDemand, HostSnapshot, PlacementRequest } from "../../manager/src/allocator/index.js";
import type { TraceNode, TracePod } from "./trace-csv.js";

export const TRACE_ENVIRONMENT = "trace";

/**
 * NVIDIA-style time-sliced vGPU profiles for the "vgpu-profiles" mode: a fraction is rounded up to
 * 1/8, 1/4 or 1/2 of a GPU (above 1/2: the whole GPU), and a GPU hosts one profile at a time.
 */
export const VGPU_PROFILES = [
  { name: "1/8", maxInstances: 8 },
  { name: "1/4", maxInstances: 4 },
  { name: "1/2", maxInstances: 2 },
] as const;

export type ShareMode = "fractional" | "vgpu-profiles";

export function traceHost(node: TraceNode, index: number, mode: ShareMode = "fractional"): HostSnapshot {
  return {
    id: `h${String(index).padStart(5, "0")}`,
    name: node.name,
    environment: TRACE_ENVIRONMENT,
    pod: "pod",
    cluster: "cluster",
    status: "Up",
    resourceState: "Enabled",
    hypervisor: "KVM",
    tags: [],
    cpu: { total: node.cpuMilli, allocated: 0 },
    memory: { totalMib: node.memoryMib, reservedMib: 0, allocatedMib: 0 },
    gpus: Array.from({ length: node.gpuCount }, (_, g) => ({
      id: `${node.name}/gpu${g}`,
      model: node.gpuModel,
      use: { kind: "free" as const },
      ...(mode === "vgpu-profiles" && { vgpuTypes: VGPU_PROFILES, allowShares: false }),
    })),
  };
}

export function traceSnapshot(nodes: readonly TraceNode[], mode: ShareMode = "fractional"): FleetSnapshot {
  return { hosts: nodes.map((n, i) => traceHost(n, i, mode)), clusters: [{ id: "cluster" }] };
}

/**
 * num_gpu >= 2, or 1 with gpu_milli = 1000 → whole GPUs (passthrough); 1 with gpu_milli < 1000 → a
 * fractional share of one GPU; gpu_spec → allowed models. A pod with num_gpu 0 (or gpu_milli 0, which
 * the paper's simulator also treats as no GPU) asks for none.
 */
export function traceGpuDemand(pod: TracePod, mode: ShareMode = "fractional"): GpuDemand | undefined {
  const models = pod.gpuModels.length > 0 ? { models: pod.gpuModels } : {};
  if (pod.numGpu <= 0 || pod.gpuMilli <= 0) return undefined;
  if (pod.numGpu >= 2 || pod.gpuMilli >= 1000) return { kind: "passthrough", count: pod.numGpu, ...models };
  if (mode === "vgpu-profiles") {
    const profile = VGPU_PROFILES.find((p) => pod.gpuMilli * p.maxInstances <= 1000);
    return profile === undefined ? { kind: "passthrough", count: 1, ...models } : { kind: "vgpu", vgpuType: profile.name, ...models };
  }
  return { kind: "share", milli: pod.gpuMilli, ...models };
}

export function traceRequest(pod: TracePod, mode: ShareMode = "fractional"): PlacementRequest {
  const gpu = traceGpuDemand(pod, mode);
  return {
    // The core requires vcpus > 0; the trace has none at 0, but keep a floor of 1 milli-vCPU.
    vcpus: Math.max(1, pod.cpuMilli),
    memoryMib: pod.memoryMib,
    accountId: "trace",
    environment: TRACE_ENVIRONMENT,
    ...(gpu !== undefined && { gpu }),
  };
}
