import type { Static } from "@sinclair/typebox";
import type { LabelledFlavor } from "../../catalog/flavor-service.js";
import type { AdminFlavor } from "./flavor.schema.js";

export function adminFlavorView(f: LabelledFlavor): Static<typeof AdminFlavor> {
  return {
    id: f.id, name: f.name, cpu: f.vcpus, ram: f.memoryMib / 1024, disk: f.diskGib,
    gpu: f.gpuModel, gpu_count: f.gpuCount, vgpu_type: f.vgpuType || null,
    gpu_share_milli: f.gpuShareMilli || null, host_tags: f.hostTags, cpu_type: f.cpuType || null,
    region_name: f.regionName, labels: f.labels, features: f.features, retired_at: f.retiredAt?.toISOString() ?? null, created_at: f.createdAt.toISOString(),
  };
}
