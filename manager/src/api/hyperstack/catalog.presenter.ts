// Flavors and images as Hyperstack clients see them: flavors grouped per GPU model and region,
// images per region and type (one offered in every region in each region's group), groups in
// the order their first member comes.
import type { Static } from "@sinclair/typebox";
import type { Image, ListedFlavor, ListedImage } from "../../catalog/catalog-service.js";
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

/** `region`: where it is listed (an image in every region has region_name "" on its own). */
export function imageView(i: Image, region = i.regionName): Static<typeof S.Image> {
  return {
    id: i.id, name: i.name, region_name: region, type: i.osType, version: i.version,
    size: i.sizeGib, display_size: `${i.sizeGib} GB`, description: i.description, is_public: i.isPublic,
    labels: [], flavor_restrictions: { has_flavor_restrictions: false, restriction_type: null, compatible_flavors: [] }, os_type: i.osType,
  };
}

export function imageGroups(list: readonly ListedImage[]): Static<typeof S.ImageGroup>[] {
  const offers = list.flatMap(({ image, regions }) => regions.map((region) => ({ image, region })));
  return groupBy(offers, (o) => [o.region, o.image.osType])
    .map(([first, members]) => ({ region_name: first.region, type: first.image.osType, logo: "", images: members.map((o) => imageView(o.image, o.region)) }));
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
