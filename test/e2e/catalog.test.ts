// Flavors and images through /v1/core: Hyperstack's groups, live stock_available as the fleet
// fills and empties, the filters, retired flavors, and every bad parameter a 400.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { errorShapeProblems, startTestCloud, type TestCloud } from "./harness.js";

let cloud: TestCloud;

beforeAll(async () => {
  cloud = await startTestCloud({
    hosts: [{ hostname: "cat-a", uuid: "ca700000-0000-4000-8000-0000000000a1", cpus: 8, memoryMib: 32 * 1024 }],
    // One VM fills the host (thresholds are the allocator's unit tests' business).
    settings: { "cluster.cpu.allocated.capacity.disablethreshold": 1, "cluster.memory.allocated.capacity.disablethreshold": 1 },
  });
  await cloud.waitFor("host up", async () => (await cloud.api("GET", "/v1/admin/hosts")).json.hosts?.[0]?.state === "Up");
}, 120_000);
afterAll(async () => { await cloud?.stop(); });

type Flavor = Record<string, any>;
async function flavorsByName(query = ""): Promise<Map<string, Flavor>> {
  const r = await cloud.api("GET", `/v1/core/flavors${query}`);
  expect(r.status, JSON.stringify(r.json)).toBe(200);
  return new Map((r.json.data as { flavors: Flavor[] }[]).flatMap((g) => g.flavors).map((f) => [f.name, f]));
}

function expectError(r: { status: number; json: Record<string, any> }, status: number): void {
  expect(r.status, JSON.stringify(r.json)).toBe(status);
  expect(errorShapeProblems(r.status, r.json)).toEqual([]);
}

describe("flavors", () => {
  it("are grouped per GPU model and region with the spec's fields", async () => {
    const r = await cloud.api("GET", "/v1/core/flavors");
    expect(r.json).toMatchObject({ status: true, message: expect.any(String) });
    const groups = r.json.data as { gpu: string; region_name: string; flavors: Flavor[] }[];
    const keys = groups.map((g) => `${g.gpu}|${g.region_name}`);
    expect(new Set(keys).size).toBe(keys.length);
    for (const g of groups) for (const f of g.flavors) expect([f.gpu, f.region_name]).toEqual([g.gpu, g.region_name]);
    const h100 = groups.find((g) => g.gpu === "NVIDIA H100 80GB HBM3")!;
    expect(h100.flavors.map((f) => f.gpu_count)).toEqual([1, 2, 4, 8]);
    const byName = await flavorsByName();
    expect(byName.get("u1.large")).toEqual({
      id: expect.any(Number), name: "u1.large", display_name: "u1.large", region_name: "default", cpu: 4, ram: 16, disk: 20,
      ephemeral: 0, gpu: "", gpu_count: 0, stock_available: true, labels: [], features: {}, created_at: expect.any(String),
      vgpu_type: null, gpu_share_milli: null, host_tags: [],
    });
    expect([byName.get("s1.2xlarge")!.ram, byName.get("m1.small")!.ram]).toEqual([32, 8]);
    // The only host has no GPU and 8 vCPUs.
    expect(byName.get("n3-H100x1")!.stock_available).toBe(false);
    expect(byName.get("u1.2xlarge")!.stock_available).toBe(false);
  });

  it("stock_available turns false when the fleet is full and back after the delete", async () => {
    const created = await cloud.api("POST", "/v1/core/virtual-machines", { name: "filler", flavor_name: "s1.xlarge", image_name: "Debian 12", count: 1 });
    expect(created.status, JSON.stringify(created.json)).toBe(200);
    const id = created.json.instances[0].id as number;
    let byName = await flavorsByName();
    expect(byName.get("s1.small")!.stock_available).toBe(false);
    expect(byName.get("t1-tiny")!.stock_available).toBe(false);
    await cloud.waitFor("VM running", async () => (await cloud.api("GET", `/v1/core/virtual-machines/${id}`)).json.instance?.status === "ACTIVE");
    expect((await cloud.api("DELETE", `/v1/core/virtual-machines/${id}`)).status).toBe(200);
    await cloud.waitFor("VM gone", async () => (await cloud.api("GET", `/v1/core/virtual-machines/${id}`)).status === 404);
    // Releases reach the placement's snapshot within its maximum age.
    byName = await cloud.waitFor("back in stock", async () => {
      const m = await flavorsByName();
      return m.get("s1.xlarge")!.stock_available && m;
    });
    expect(byName.get("s1.small")!.stock_available).toBe(true);
  });

  it("filters by region: the region's flavors, 404 for a region nothing is in, 400 for a bad one", async () => {
    expect([...(await flavorsByName("?region=default")).keys()]).toEqual([...(await flavorsByName()).keys()]);
    expectError(await cloud.api("GET", "/v1/core/flavors?region=nowhere"), 404);
    expectError(await cloud.api("GET", "/v1/core/flavors?region="), 400);
    expectError(await cloud.api("GET", "/v1/core/flavors?colour=blue"), 400);
  });

  it("a retired flavor is hidden and refused for new VMs; admins change flavors", async () => {
    const made = await cloud.api("POST", "/v1/admin/flavors", { name: "old-size", cpu: 1, ram: 1 });
    expect(made.status).toBe(201);
    const id = made.json.flavor.id as number;
    const changed = await cloud.api("PUT", `/v1/admin/flavors/${id}`, { ram: 2, region_name: "default" });
    expect(changed.status, JSON.stringify(changed.json)).toBe(200);
    expect(changed.json.flavor).toMatchObject({ ram: 2, cpu: 1, region_name: "default", retired_at: null });
    expect((await flavorsByName()).get("old-size")!.ram).toBe(2);
    const retired = await cloud.api("POST", `/v1/admin/flavors/${id}/retire`);
    expect(retired.status).toBe(200);
    expect(retired.json.flavor.retired_at).toEqual(expect.any(String));
    expect((await flavorsByName()).has("old-size")).toBe(false);
    const refused = await cloud.api("POST", "/v1/core/virtual-machines", { name: "late", flavor_name: "old-size", image_name: "Debian 12", count: 1 });
    expectError(refused, 400);
    expect(refused.json.message).toMatch(/retired/);
    expectError(await cloud.api("PUT", `/v1/admin/flavors/${id}`, { cpu: 0 }), 400);
    expectError(await cloud.api("PUT", "/v1/admin/flavors/999999", { cpu: 2 }), 404);
    expectError(await cloud.api("POST", "/v1/admin/flavors/999999/retire"), 404);
  });
});

describe("images", () => {
  async function images(query = ""): Promise<Record<string, any>[]> {
    const r = await cloud.api("GET", `/v1/core/images${query}`);
    expect(r.status, JSON.stringify(r.json)).toBe(200);
    return (r.json.images as { images: Record<string, any>[] }[]).flatMap((g) => g.images);
  }

  it("are grouped per region and type with the spec's fields; one is read by id", async () => {
    const r = await cloud.api("GET", "/v1/core/images");
    expect(r.json.images.map((g: Record<string, any>) => [g.region_name, g.type, g.logo])).toEqual([["default", "linux", ""], ["default", "windows", ""]]);
    const debian = (await images()).find((i) => i.name === "Debian 12")!;
    expect(debian).toEqual({
      id: expect.any(Number), name: "Debian 12", region_name: "default", type: "linux", version: "12", size: 0, display_size: "0 GB",
      description: expect.any(String), is_public: true, labels: [], os_type: "linux",
      flavor_restrictions: { has_flavor_restrictions: false, restriction_type: null, compatible_flavors: [] },
    });
    // Orbit's images are in every region: listed in each region's group, region_name "" on their own.
    const one = await cloud.api("GET", `/v1/core/images/${debian.id}`);
    expect(one.json).toMatchObject({ status: true, image: { ...debian, region_name: "" } });
    expectError(await cloud.api("GET", "/v1/core/images/999999"), 404);
    expectError(await cloud.api("GET", "/v1/core/images/abc"), 400);
    expectError(await cloud.api("GET", `/v1/core/images/${debian.id}?include_related_vms=true`), 400);
    expect((await cloud.api("GET", `/v1/core/images/${debian.id}?include_related_vms=false`)).status).toBe(200);
  });

  it("filter by search, region and include_public, and page", async () => {
    expect((await images("?search=uBuNtU")).map((i) => i.name)).toEqual(["Ubuntu Server 22.04 LTS", "Ubuntu Server 24.04 LTS"]);
    expect(await images("?search=%25")).toEqual([]);
    expect((await images("?region=default")).length).toBe(4);
    expect(await images("?include_public=false")).toEqual([]);
    const all = await images();
    expect(await images("?page=2&per_page=1")).toEqual([all[1]]);
    expect(await images("?page=5&per_page=1")).toEqual([]);
    expectError(await cloud.api("GET", "/v1/core/images?region=nowhere"), 404);
    for (const bad of ["page=0", "per_page=0", "per_page=1001", "include_public=maybe", "page=x", "search=%00"]) {
      expectError(await cloud.api("GET", `/v1/core/images?${bad}`), 400);
    }
  });
});
