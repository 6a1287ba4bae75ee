// Flavors and images as Hyperstack clients see them.
import type { Static } from "@sinclair/typebox";
import type { Flavor, Image } from "../../catalog/catalog-service.js";
import type * as S from "./catalog.schema.js";

export function flavorView(f: Flavor): Static<typeof S.Flavor> {
  return {
    id: f.id, name: f.name, cpu: f.vcpus, ram: f.memoryMib / 1024, disk: f.diskGib,
    gpu: f.gpuModel, gpu_count: f.gpuCount, vgpu_type: f.vgpuType || null,
    gpu_share_milli: f.gpuShareMilli || null, host_tags: f.hostTags,
  };
}

export function imageView(i: Image): Static<typeof S.Image> {
  return { id: i.id, name: i.name, os_type: i.osType, size: i.sizeGib };
}
