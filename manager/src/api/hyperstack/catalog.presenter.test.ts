import { Type } from "@sinclair/typebox";
import { describe, expect, it } from "vitest";
import type { Flavor, Image } from "../../catalog/catalog-service.js";
import { ok } from "../schemas.js";
import { served } from "../testing/served.js";
import { flavorGroups, imageGroups, imageView } from "./catalog.presenter.js";
import { FlavorGroup, Image as ImageSchema, ImageGroup } from "./catalog.schema.js";

const at = new Date("2026-12-04T10:00:00.000Z");
const flavor = (id: number, over: Partial<Flavor> = {}): Flavor => ({
  id, name: `f${id}`, vcpus: 4, memoryMib: 8192, diskGib: 50, gpuModel: "", gpuCount: 0, vgpuType: "", gpuShareMilli: 0,
  hostTags: [], cpuType: "", regionName: "default", features: {}, retiredAt: null, createdAt: at, ...over,
});
const image = (id: number, over: Partial<Image> = {}): Image => ({
  id, name: `i${id}`, osType: "linux", path: "", format: "qcow2", sizeGib: 10, regionName: "default", version: "",
  description: "", isPublic: true, accountId: null, createdAt: at, status: "Ready", sourceUrl: "", checksum: "", bootable: true, labels: [], sizeBytes: null, virtualSizeBytes: null, storedSha256: "", downloadProgress: null, error: "", jobId: null, ...over,
});

describe("catalog presenters", () => {
  it("groups flavors per GPU model and region, in the order of their first member", async () => {
    const h100 = { gpuModel: "H100", gpuCount: 1 };
    const groups = flavorGroups([
      { flavor: flavor(1), labels: [], stockAvailable: true },
      { flavor: flavor(2, { ...h100, features: { network_optimised: false } }), labels: [{ id: 9, label: "nvlink" }], stockAvailable: false },
      { flavor: flavor(3, { regionName: "north" }), labels: [], stockAvailable: true },
      { flavor: flavor(4), labels: [], stockAvailable: true },
      { flavor: flavor(5, h100), labels: [], stockAvailable: true },
    ]);
    expect(groups.map((g) => [g.gpu, g.region_name, g.flavors.map((f) => [f.id, f.stock_available])])).toEqual([
      ["", "default", [[1, true], [4, true]]],
      ["H100", "default", [[2, false], [5, true]]],
      ["", "north", [[3, true]]],
    ]);
    expect(groups[1]!.flavors[0]).toMatchObject({
      ram: 8, gpu: "H100", gpu_count: 1, ephemeral: 0, created_at: at.toISOString(),
      labels: [{ id: 9, label: "nvlink" }], features: { network_optimised: false },
    });
    const body = { status: true, message: "m", data: groups };
    expect(await served(ok({ data: Type.Array(FlavorGroup) }), body)).toEqual({ status: 200, json: body });
  });

  it("groups images per region and type, one in every region in each region's group, each with every field served", async () => {
    const listed = (i: Image, regions = [i.regionName]) => ({ image: i, regions });
    const groups = imageGroups([
      listed(image(1)), listed(image(2, { osType: "windows" })), listed(image(3)), listed(image(4, { regionName: "north" })),
      listed(image(5, { regionName: "" }), ["default", "north"]),
    ]);
    expect(groups.map((g) => [g.region_name, g.type, g.images.map((i) => [i.id, i.region_name])])).toEqual([
      ["default", "linux", [[1, "default"], [3, "default"], [5, "default"]]], ["default", "windows", [[2, "default"]]], ["north", "linux", [[4, "north"], [5, "north"]]],
    ]);
    const body = { status: true, message: "m", images: groups };
    expect(await served(ok({ images: Type.Array(ImageGroup) }), body)).toEqual({ status: 200, json: body });
    const one = { status: true, message: "m", image: imageView(image(9, { version: "24.04", description: "d" })) };
    expect(one.image).toMatchObject({ display_size: "10 GB", type: "linux", version: "24.04", is_public: true });
    expect(await served(ok({ image: ImageSchema }), one)).toEqual({ status: 200, json: one });
  });
});
