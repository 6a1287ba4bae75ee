// Trace records → the allocator core's snapshot and requests. CPU is kept in milli-vCPU on both sides
// (host capacity = cpu_milli, request vcpus = cpu_milli), so fractional vCPU requests stay exact.
import type { FleetSnapshot, GpuDemand, HostSnapshot, PlacementRequest } from "../../manager/src/allocator/index.js";
import type { TraceNode, TracePod } from "./trace-csv.js";

export const TRACE_ENVIRONMENT = "trace";

export function traceHost(node: TraceNode, index: number): HostSnapshot {
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
    gpus: Array.from({ length: node.gpuCount }, (_, g) => ({ id: `${node.name}/gpu${g}`, model: node.gpuModel, use: { kind: "free" as const } })),
  };
}

export function traceSnapshot(nodes: readonly TraceNode[]): FleetSnapshot {
  return { hosts: nodes.map(traceHost), clusters: [{ id: "cluster" }] };
}

/**
 * num_gpu >= 2, or 1 with gpu_milli = 1000 → whole GPUs (passthrough); 1 with gpu_milli < 1000 → a
 * fractional share of one GPU; gpu_spec → allowed models. A pod with num_gpu 0 (or gpu_milli 0, which
 * the paper's simulator also treats as no GPU) asks for none.
 */
export function traceGpuDemand(pod: TracePod): GpuDemand | undefined {
  const models = pod.gpuModels.length > 0 ? { models: pod.gpuModels } : {};
  if (pod.numGpu <= 0 || pod.gpuMilli <= 0) return undefined;
  if (pod.numGpu >= 2 || pod.gpuMilli >= 1000) return { kind: "passthrough", count: pod.numGpu, ...models };
  return { kind: "share", milli: pod.gpuMilli, ...models };
}

export function traceRequest(pod: TracePod): PlacementRequest {
  const gpu = traceGpuDemand(pod);
  return {
    // The core requires vcpus > 0; the trace has none at 0, but keep a floor of 1 milli-vCPU.
    vcpus: Math.max(1, pod.cpuMilli),
    memoryMib: pod.memoryMib,
    accountId: "trace",
    environment: TRACE_ENVIRONMENT,
    ...(gpu !== undefined && { gpu }),
  };
}
