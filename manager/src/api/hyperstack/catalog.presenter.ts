// Flavors and images as Hyperstack clients see them: flavors grouped per GPU model and region,
// images per region and type, groups in the order their first member comes.
import type { Static } from "@sinclair/typebox";
import type { Image, ListedFlavor } from "../../catalog/catalog-service.js";
import type * as S from "./catalog.schema.js";

export function flavorView({ flavor: f, labels, stockAvailable }: ListedFlavor): Static<typeof S.Flavor> {
  return {
    id: f.id, name: f.name, display_name: f.name, region_name: f.regionName,
    cpu: f.vcpus, ram: f.memoryMib / 1024, disk: f.diskGib, ephemeral: 0,
    gpu: f.gpuModel, gpu_count: f.gpuCount, stock_available: stockAvailable,
    labels, features: f.features, created_at: f.createdAt.toISOString(),
    vgpu_type: f.vgpuType || null, gpu_share_milli: f.gpuShareMilli || null, host_tags: f.hostTags,
  };
}

export function flavorGroups(list: readonly ListedFlavor[]): Static<typeof S.FlavorGroup>[] {
  return groupBy(list, (l) => [l.flavor.gpuModel, l.flavor.regionName])
    .map(([first, members]) => ({ gpu: first.flavor.gpuModel, region_name: first.flavor.regionName, flavors: members.map(flavorView) }));
}

export function imageView(i: Image): Static<typeof S.Image> {
  return {
    id: i.id, name: i.name, region_name: i.regionName, type: i.osType, version: i.version,
    size: i.sizeGib, display_size: `${i.sizeGib} GB`, description: i.description, is_public: i.isPublic,
    labels: [], flavor_restrictions: { has_flavor_restrictions: false, restriction_type: null, compatible_flavors: [] }, os_type: i.osType,
  };
}

export function imageGroups(list: readonly Image[]): Static<typeof S.ImageGroup>[] {
  return groupBy(list, (i) => [i.regionName, i.osType])
    .map(([first, members]) => ({ region_name: first.regionName, type: first.osType, logo: "", images: members.map(imageView) }));
}

function groupBy<T>(list: readonly T[], key: (t: T) => readonly string[]): [T, T[]][] {
  const groups = new Map<string, [T, T[]]>();
  for (const t of list) {
    const k = JSON.stringify(key(t));
    const g = groups.get(k);
    if (g) g[1].push(t);
    else groups.set(k, [t, [t]]);
  }
  return [...groups.values()];
}
