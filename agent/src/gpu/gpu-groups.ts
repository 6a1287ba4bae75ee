// Groups identical GPUs like CloudStack's GPU groups ("Group of NVIDIA Corporation <model> GPUs"),
// with the vGPU types the group offers and how many instances can still be created. Pure.
import type { Gpu } from "#shared/protocol.js";

export const NVIDIA_VENDOR = "NVIDIA Corporation";

export interface GpuGroupVgpuType {
  typeId: string;
  name: string;
  framebufferMib: number;
  /** Instances one GPU can hold (the largest any member reports; 0 when unknown). */
  maxInstancesPerGpu: number;
  /** Sum over the group's GPUs; 0 when unknown. */
  maxInstances: number;
  /** Sum over the group's GPUs of the instances that can still be created. */
  remainingInstances: number;
  /** How many GPUs of the group offer this type. */
  gpuCount: number;
}

export interface GpuGroup {
  name: string;
  vendor: string;
  /** As nvidia-smi names it, e.g. "NVIDIA A100-SXM4-80GB". */
  model: string;
  memoryMib: number;
  devices: Gpu[];
  vgpuTypes: GpuGroupVgpuType[];
}

/** "NVIDIA A100-SXM4-80GB" → "Group of NVIDIA Corporation A100-SXM4-80GB GPUs". */
export function gpuGroupName(model: string, vendor = NVIDIA_VENDOR): string {
  const shortModel = model.replace(/^NVIDIA\s+/i, "").trim() || "unknown model";
  return `Group of ${vendor} ${shortModel} GPUs`;
}

/** One group per distinct (model, memory), in order of first appearance. */
export function groupGpus(gpus: Gpu[]): GpuGroup[] {
  const groups = new Map<string, GpuGroup>();
  for (const gpu of gpus) {
    const key = `${gpu.model}\u0000${gpu.memoryMib}`;
    let group = groups.get(key);
    if (!group) {
      group = { name: gpuGroupName(gpu.model), vendor: NVIDIA_VENDOR, model: gpu.model, memoryMib: gpu.memoryMib, devices: [], vgpuTypes: [] };
      groups.set(key, group);
    }
    group.devices.push(gpu);
    for (const t of gpu.vgpuTypes) {
      let gt = group.vgpuTypes.find((x) => x.typeId === t.typeId);
      if (!gt) {
        gt = { typeId: t.typeId, name: t.name, framebufferMib: t.framebufferMib, maxInstancesPerGpu: 0, maxInstances: 0, remainingInstances: 0, gpuCount: 0 };
        group.vgpuTypes.push(gt);
      }
      gt.gpuCount += 1;
      gt.remainingInstances += t.availableInstances;
      gt.maxInstances += t.maxInstances;
      gt.maxInstancesPerGpu = Math.max(gt.maxInstancesPerGpu, t.maxInstances);
      if (!gt.framebufferMib) gt.framebufferMib = t.framebufferMib;
    }
  }
  return [...groups.values()];
}
