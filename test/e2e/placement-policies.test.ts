// Issue 4's policies through the HTTP API on a simulated fleet: admin flavors, host tags, CPU
// type, OS-type preference, GPU hosts last, resource state, allocation algorithm / mode via
// settings, affinity groups (strict and not), CloudSigma's avoid, cluster over-provisioning
// overrides, homogeneous vGPU and the explanations of a refused deploy.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestCloud, type TestCloud } from "./harness.js";

const H100 = "NVIDIA H100 80GB HBM3";
const HOSTS = [
  { hostname: "pa-1", uuid: "9a000000-0000-4000-8000-000000000001", cpus: 16, memoryMib: 65536, cluster: "c1", tags: ["ssd"] },
  { hostname: "pa-2", uuid: "9a000000-0000-4000-8000-000000000002", cpus: 16, memoryMib: 65536, cluster: "c1", tags: ["os.windows", "cpu.amd"] },
  { hostname: "pa-3", uuid: "9a000000-0000-4000-8000-000000000003", cpus: 16, memoryMib: 65536, cluster: "c1" },
  {
    hostname: "pa-gpu", uuid: "9a000000-0000-4000-8000-000000000004", cpus: 64, memoryMib: 262144, numaCells: 2, cluster: "c2",
    // Two NVIDIA-like time-sliced profiles, advertised by the (simulated) agent as a vGPU host's would be.
    gpus: [{
      model: H100, memoryMib: 81559, count: 4,
      vgpuTypes: [{ name: "H100-20C", maxInstances: 4, framebufferMib: 20480 }, { name: "H100-40C", maxInstances: 2, framebufferMib: 40960 }],
    }], tags: ["gpu"],
  },
];
const CPU_HOSTS = ["pa-1", "pa-2", "pa-3"];

const FLAVORS = [
  { name: "p-small", cpu: 2, ram: 2 },
  { name: "p-big", cpu: 12, ram: 8 },
  { name: "p-ssd", cpu: 2, ram: 2, host_tags: ["ssd"] },
  { name: "p-nvme", cpu: 2, ram: 2, host_tags: ["nvme"] },
  { name: "p-amd", cpu: 2, ram: 2, cpu_type: "amd" },
  { name: "p-gpu1", cpu: 8, ram: 16, gpu: H100, gpu_count: 1 },
  { name: "p-vgpu20", cpu: 2, ram: 4, gpu: H100, vgpu_type: "H100-20C" },
  { name: "p-vgpu40", cpu: 2, ram: 4, gpu: H100, vgpu_type: "H100-40C" },
];

let cloud: TestCloud;
let hostIds: Record<string, number> = {};

beforeAll(async () => {
  cloud = await startTestCloud({ hosts: HOSTS });
  const hs = await cloud.waitFor("hosts up", async () => {
    const r = await cloud.api("GET", "/v1/admin/hosts");
    return r.json.hosts?.length === HOSTS.length && r.json.hosts.every((h: any) => h.state === "Up") && r.json.hosts;
  });
  hostIds = Object.fromEntries(hs.map((h: any) => [h.name, h.id]));
  for (const f of FLAVORS) expect((await cloud.api("POST", "/v1/admin/flavors", f)).status).toBe(201);
}, 120_000);
afterAll(async () => { await cloud?.stop(); });

async function create(body: Record<string, unknown>) {
  return cloud.api("POST", "/v1/core/virtual-machines", { image_name: "Debian 12", ...body });
}

async function created(body: Record<string, unknown>): Promise<any[]> {
  const r = await create(body);
  expect(r.status, JSON.stringify(r.json)).toBe(200);
  return r.json.instances;
}

/** Enabled / Disabled through PUT; Maintenance (of an empty host) through its maintenance route, left by cancelling it. */
async function setResourceState(name: string, state: string) {
  const id = hostIds[name];
  const current = (await cloud.api("GET", "/v1/admin/hosts")).json.hosts.find((h: any) => h.id === id).resource_state;
  if (state === "Maintenance") {
    expect((await cloud.api("POST", `/v1/admin/hosts/${id}/maintenance`, {})).status).toBe(202);
    await cloud.waitFor(`${name} in Maintenance`, async () => (await cloud.api("GET", `/v1/admin/hosts/${id}/maintenance`)).json.maintenance?.resource_state === "Maintenance");
    return;
  }
  if (["PrepareForMaintenance", "Maintenance", "ErrorInMaintenance"].includes(current)) {
    expect((await cloud.api("DELETE", `/v1/admin/hosts/${id}/maintenance`)).status).toBe(200);
  }
  const r = await cloud.api("PUT", `/v1/admin/hosts/${id}`, { resource_state: state });
  expect(r.status).toBe(200);
}

async function setting(name: string, value: unknown) {
  const r = await cloud.api("PUT", `/v1/admin/settings/${name}`, { value });
  expect(r.status, JSON.stringify(r.json)).toBe(200);
}

/** Deletes every VM, waits until they are gone, re-enables all hosts. */
async function cleanup() {
  await cloud.waitFor("all VMs gone", async () => {
    const list = await cloud.api("GET", "/v1/core/virtual-machines?page_size=500");
    // Deleting again is a no-op while DELETING; it retries a delete that did not finish.
    for (const i of list.json.instances) await cloud.api("DELETE", `/v1/core/virtual-machines/${i.id}`);
    return list.json.count === 0;
  }, 30_000);
  for (const h of Object.keys(hostIds)) await setResourceState(h, "Enabled");
}

describe("placement policies through the API", () => {
  it("admin manages flavors", async () => {
    const list = await cloud.api("GET", "/v1/admin/flavors");
    expect(list.status).toBe(200);
    const vgpu = list.json.flavors.find((f: any) => f.name === "p-vgpu20");
    expect(vgpu).toMatchObject({ cpu: 2, ram: 4, gpu: H100, vgpu_type: "H100-20C", gpu_count: 0 });
    expect(list.json.flavors.find((f: any) => f.name === "p-amd")).toMatchObject({ cpu_type: "amd" });

    expect((await cloud.api("POST", "/v1/admin/flavors", FLAVORS[0])).json.error_reason).toBe("already_exist");
    const bad = await cloud.api("POST", "/v1/admin/flavors", { name: "x", cpu: 1, ram: 1, gpu_count: 2 });
    expect(bad.status).toBe(400);
    expect(bad.json.field).toBe("gpu");
    const both = await cloud.api("POST", "/v1/admin/flavors", { name: "x", cpu: 1, ram: 1, gpu: H100, gpu_count: 1, vgpu_type: "H100-20C" });
    expect(both.status).toBe(400);

    const tmp = await cloud.api("POST", "/v1/admin/flavors", { name: "tmp", cpu: 1, ram: 0.5 });
    expect(tmp.json.flavor).toMatchObject({ name: "tmp", ram: 0.5 });
    const [vm] = await created({ name: "uses-tmp", flavor_name: "tmp" });
    const inUse = await cloud.api("DELETE", `/v1/admin/flavors/${tmp.json.flavor.id}`);
    expect(inUse.status).toBe(409);
    expect(vm.flavor.name).toBe("tmp");
    expect((await cloud.api("DELETE", "/v1/admin/flavors/999999")).status).toBe(404);
    const user = await cloud.api("GET", "/v1/admin/flavors", undefined, null);
    expect(user.status).toBe(401);
    await cleanup();
  });

  it("host tags, CPU type, OS type and GPU hosts last decide the host", async () => {
    expect((await created({ name: "tagged", flavor_name: "p-ssd" }))[0].host).toBe("pa-1");
    expect((await created({ name: "amd", flavor_name: "p-amd" }))[0].host).toBe("pa-2");
    expect((await created({ name: "win", flavor_name: "p-small", image_name: "Windows Server 2022" }))[0].host).toBe("pa-2");
    // Linux: not the Windows-reserved host, not the GPU host.
    for (const i of await created({ name: "lin", flavor_name: "p-small", count: 3 })) expect(["pa-1", "pa-3"]).toContain(i.host);
    const [gpuVm] = await created({ name: "gpu", flavor_name: "p-gpu1" });
    expect(gpuVm.host).toBe("pa-gpu");
    expect(gpuVm.placement.gpus).toHaveLength(1);
    expect(gpuVm.placement.gpus[0]).toMatchObject({ mode: "passthrough", model: H100 });
    // The instance view keeps the placement's scores.
    const view = await cloud.api("GET", `/v1/core/virtual-machines/${gpuVm.id}`);
    const placement = view.json.instance.placement;
    expect(placement.scores.length).toBeGreaterThan(0);
    let total = 0;
    for (const s of placement.scores) {
      expect(typeof s.scorer).toBe("string");
      expect(s.score).toBeGreaterThanOrEqual(0);
      expect(s.score).toBeLessThanOrEqual(1);
      total += s.weight * s.score;
    }
    expect(placement.total).toBeCloseTo(total, 6);
    const [cpuVm] = await created({ name: "lin-4", flavor_name: "p-small" });
    expect(cpuVm.placement.scores.map((s: any) => s.scorer)).toEqual(expect.arrayContaining(["gpu-hosts-last", "os-type"]));

    const refused = await create({ name: "nvme", flavor_name: "p-nvme" });
    expect(refused.status).toBe(409);
    expect(refused.json.error_reason).toBe("insufficient_capacity");
    expect(refused.json.rejections.map((r: any) => r.host_name).sort()).toEqual(HOSTS.map((h) => h.hostname).sort());
    for (const r of refused.json.rejections) {
      expect(r).toMatchObject({ filter: "host-tags", host_id: String(hostIds[r.host_name]) });
      expect(r.reason).toContain("nvme");
    }
    const dry = await cloud.api("POST", "/v1/admin/placement/dry-run", { flavor_name: "p-nvme" });
    expect(dry.json.result.ok).toBe(false);
    expect(dry.json.result.rejection.hosts).toHaveLength(HOSTS.length);
    await cleanup();
  });

  it("hosts Disabled or in Maintenance take no new VMs", async () => {
    await setResourceState("pa-1", "Disabled");
    await setResourceState("pa-3", "Maintenance");
    for (const i of await created({ name: "rs", flavor_name: "p-small", count: 2 })) expect(i.host).toBe("pa-2");
    const refused = await create({ name: "rs-ssd", flavor_name: "p-ssd" });
    expect(refused.status).toBe(409);
    const pa1 = refused.json.rejections.find((r: any) => r.host_name === "pa-1");
    expect(pa1.filter).toBe("host-state");
    expect(pa1.reason).toContain("Disabled");
    expect((await cloud.api("PUT", `/v1/admin/hosts/${hostIds["pa-1"]}`, { resource_state: "Sleeping" })).status).toBe(400);
    expect((await cloud.api("PUT", "/v1/admin/hosts/99999", { resource_state: "Enabled" })).status).toBe(404);
    await setResourceState("pa-1", "Enabled");
    expect((await created({ name: "rs-ssd", flavor_name: "p-ssd" }))[0].host).toBe("pa-1");
    await cleanup();
  });

  it("vm.allocation.mode vertical packs, horizontal spreads; unknown algorithms are refused", async () => {
    expect((await cloud.api("PUT", "/v1/admin/settings/vm.allocation.algorithm", { value: "bogus" })).status).toBe(400);
    await setting("vm.allocation.algorithm", "firstfit");
    await setting("vm.allocation.mode", "vertical");
    const packed = await created({ name: "v", flavor_name: "p-small", count: 4 });
    expect(new Set(packed.map((i) => i.host)).size).toBe(1);
    await cleanup();
    await setting("vm.allocation.mode", "horizontal");
    const spread = await created({ name: "h", flavor_name: "p-small", count: 4 });
    expect(new Set(spread.map((i) => i.host))).toEqual(new Set(["pa-1", "pa-3"]));
    await cleanup();
    await setting("vm.allocation.algorithm", "userdispersing");
    const dispersed = await created({ name: "d", flavor_name: "p-small", count: 2 });
    expect(new Set(dispersed.map((i) => i.host)).size).toBe(2);
    await setting("vm.allocation.algorithm", "firstfit");
    await setting("vm.allocation.mode", "vertical");
    await cleanup();
  });

  it("affinity groups: strict anti-affinity refuses the 4th VM on 3 hosts, non-strict places it, host affinity co-locates", async () => {
    await setResourceState("pa-gpu", "Maintenance");
    const mk = async (name: string, type: string, strict: boolean) => {
      const r = await cloud.api("POST", "/v1/core/affinity-groups", { name, type, strict });
      expect(r.status).toBe(201);
      return r.json.affinity_group;
    };
    const aa = await mk("aa", "host-anti-affinity", true);
    await mk("na", "host-anti-affinity", false);
    await mk("ha", "host-affinity", true);
    expect((await cloud.api("POST", "/v1/core/affinity-groups", { name: "aa", type: "host-affinity" })).status).toBe(409);
    expect((await cloud.api("POST", "/v1/core/affinity-groups", { name: "zz", type: "rack-affinity" })).status).toBe(400);

    const strictHosts: string[] = [];
    for (let i = 0; i < 3; i++) strictHosts.push((await created({ name: `aa-${i}`, flavor_name: "p-small", affinity_group_names: ["aa"] }))[0].host);
    expect(new Set(strictHosts)).toEqual(new Set(CPU_HOSTS));
    const fourth = await create({ name: "aa-3", flavor_name: "p-small", affinity_group_ids: [aa.id] });
    expect(fourth.status).toBe(409);
    expect(fourth.json.rejections.filter((r: any) => CPU_HOSTS.includes(r.host_name)).every((r: any) => r.filter === "affinity")).toBe(true);

    const loose: string[] = [];
    for (let i = 0; i < 4; i++) loose.push((await created({ name: `na-${i}`, flavor_name: "p-small", affinity_group_names: ["na"] }))[0].host);
    expect(new Set(loose.slice(0, 3))).toEqual(new Set(CPU_HOSTS));
    expect(CPU_HOSTS).toContain(loose[3]);

    const together = await created({ name: "ha", flavor_name: "p-small", count: 3, affinity_group_names: ["ha"] });
    expect(new Set(together.map((i) => i.host)).size).toBe(1);
    const more = await created({ name: "ha-later", flavor_name: "p-small", affinity_group_names: ["ha"] });
    expect(more[0].host).toBe(together[0].host);

    const groups = await cloud.api("GET", "/v1/core/affinity-groups");
    expect(groups.json.affinity_groups.find((g: any) => g.name === "aa").virtual_machine_ids).toHaveLength(3);
    expect((await cloud.api("DELETE", `/v1/core/affinity-groups/${aa.id}`)).status).toBe(409);
    const unknown = await create({ name: "x", flavor_name: "p-small", affinity_group_names: ["nope"] });
    expect(unknown.status).toBe(400);
    expect(unknown.json.field).toBe("affinity_group_names");
    await cleanup();
    expect((await cloud.api("DELETE", `/v1/core/affinity-groups/${aa.id}`)).status).toBe(200);
  });

  it("avoid keeps a VM away from the listed VMs' hosts when it can", async () => {
    await setting("vm.allocation.algorithm", "firstfit");
    await setting("vm.allocation.mode", "vertical");
    const [a] = await created({ name: "a", flavor_name: "p-small" });
    // Vertical packing alone would put the next VM beside it.
    expect((await created({ name: "b", flavor_name: "p-small" }))[0].host).toBe(a.host);
    const [c] = await created({ name: "c", flavor_name: "p-small", avoid: [a.id] });
    expect(c.host).not.toBe(a.host);
    const [d] = await created({ name: "d", flavor_name: "p-small", avoid: [a.uuid, c.id] });
    expect([a.host, c.host]).not.toContain(d.host);
    expect((await create({ name: "e", flavor_name: "p-small", avoid: [987654] })).status).toBe(400);
    await cleanup();
  });

  it("a cluster's over-provisioning override lets more vCPUs onto its hosts", async () => {
    const clusters = await cloud.api("GET", "/v1/admin/clusters");
    const c1 = clusters.json.clusters.find((c: any) => c.name === "c1");
    for (const h of ["pa-2", "pa-3", "pa-gpu"]) await setResourceState(h, "Disabled");
    // 2 x 12 vCPUs do not fit on one 16-CPU host at factor 1.
    expect((await create({ name: "big", flavor_name: "p-big", count: 2 })).status).toBe(409);
    const set = await cloud.api("PUT", `/v1/admin/clusters/${c1.id}/settings/cpu.overprovisioning.factor`, { value: 2 });
    expect(set.status).toBe(200);
    const both = await created({ name: "big", flavor_name: "p-big", count: 2 });
    expect(both.map((i) => i.host)).toEqual(["pa-1", "pa-1"]);
    expect((await cloud.api("GET", "/v1/admin/clusters")).json.clusters.find((c: any) => c.id === c1.id).settings)
      .toEqual({ "cpu.overprovisioning.factor": 2 });
    expect((await cloud.api("PUT", `/v1/admin/clusters/${c1.id}/settings/vm.allocation.mode`, { value: "horizontal" })).status).toBe(400);
    expect((await cloud.api("PUT", `/v1/admin/clusters/${c1.id}/settings/cpu.overprovisioning.factor`, { value: -1 })).status).toBe(400);
    expect((await cloud.api("PUT", `/v1/admin/clusters/${c1.id}/settings/cpu.overprovisioning.factor`, { value: null })).status).toBe(200);
    await cleanup();
    expect((await create({ name: "big2", flavor_name: "p-big", count: 2 })).status).toBe(200);
    await cleanup();
  });

  it("vGPUs pack onto a GPU of their type, never mix types on a GPU, never share a passthrough GPU", async () => {
    const small = await created({ name: "vg20", flavor_name: "p-vgpu20", count: 5 });
    const gpuOf = (i: any) => i.placement.gpus[0].gpu_id as string;
    for (const i of small) {
      expect(i.host).toBe("pa-gpu");
      expect(i.placement.gpus[0]).toMatchObject({ mode: "vgpu", vgpu_type: "H100-20C" });
    }
    const perGpu = new Map<string, number>();
    for (const i of small) perGpu.set(gpuOf(i), (perGpu.get(gpuOf(i)) ?? 0) + 1);
    // Four fit one GPU (max 4 instances): the fifth opens a second GPU.
    expect([...perGpu.values()].sort()).toEqual([1, 4]);
    const [big] = await created({ name: "vg40", flavor_name: "p-vgpu40" });
    expect(perGpu.has(gpuOf(big))).toBe(false);
    const [pt] = await created({ name: "pt", flavor_name: "p-gpu1" });
    expect(pt.placement.gpus[0].mode).toBe("passthrough");
    expect([...perGpu.keys(), gpuOf(big)]).not.toContain(gpuOf(pt));
    // All four GPUs are now in use: another passthrough VM is refused with the GPU filter named.
    const refused = await create({ name: "pt2", flavor_name: "p-gpu1" });
    expect(refused.status).toBe(409);
    expect(refused.json.rejections.find((r: any) => r.host_name === "pa-gpu").filter).toMatch(/gpu/);
    await cleanup();
  });
});
