// Volumes through manager → gRPC → agent → simulator: create (its size reserved in a storage
// pool), list, get, attach to a running VM (the simulated domain gets the disk), kept across a
// stop/start, detach, delete; a local volume stays on its host, a shared one attaches anywhere
// in the cluster; a VM's delete detaches its volumes (with recurse=all_drives, deletes them); a
// volume's name availability, its move to another environment, a protected attachment; every
// refusal a 4xx with nothing changed.
import { desc, eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { images, jobs, vms, volumes } from "../../manager/src/db/schema.js";
import { createUserKey, errorShapeProblems, jobsIdle, startTestCloud, stateDigest, type TestCloud } from "./harness.js";

let cloud: TestCloud;
let alice: string;
let bob: string;
/** Two running VMs of alice's, on different hosts of the default region's default cluster. */
let vm1: { id: number; uuid: string; host: string };
let vm2: { id: number; uuid: string; host: string };
/** One in the same region's other cluster. */
let vmC2: { id: number; uuid: string; host: string };

const HOSTS = [
  { hostname: "vol-a", uuid: "7a000000-0000-4000-8000-000000000001", cpus: 8, memoryMib: 16384 },
  { hostname: "vol-b", uuid: "7a000000-0000-4000-8000-000000000002", cpus: 8, memoryMib: 16384 },
  { hostname: "vol-far", uuid: "7a000000-0000-4000-8000-000000000003", cpus: 8, memoryMib: 16384, environment: "far" },
  { hostname: "vol-c2", uuid: "7a000000-0000-4000-8000-000000000004", cpus: 8, memoryMib: 16384, cluster: "c2" },
];

async function createVm(name: string, avoid: number[] = []) {
  const r = await cloud.api("POST", "/v1/core/virtual-machines", {
    name, environment_name: "default", flavor_name: "n1-cpu-small", image_name: "Debian 12", ...(avoid.length ? { avoid } : {}),
  }, alice);
  expect(r.status, JSON.stringify(r.json)).toBe(200);
  await jobsIdle(cloud);
  const id = r.json.instances[0].id as number;
  const admin = (await cloud.api("GET", `/v1/core/virtual-machines/${id}`)).json.instance;
  expect(admin.status).toBe("ACTIVE");
  return { id, uuid: admin.uuid as string, host: admin.host as string };
}

beforeAll(async () => {
  cloud = await startTestCloud({ hosts: HOSTS });
  await cloud.waitFor("hosts up", async () => (await cloud.api("GET", "/v1/admin/hosts")).json.hosts?.filter((h: any) => h.state === "Up").length === 4);
  alice = await createUserKey(cloud, "vol-alice");
  bob = await createUserKey(cloud, "vol-bob");
  vm1 = await createVm("vol-vm-1");
  vm2 = await createVm("vol-vm-2", [vm1.id]);
  vmC2 = await createVm("vol-vm-c2", [vm1.id, vm2.id]);
  expect(new Set([vm1.host, vm2.host, vmC2.host])).toEqual(new Set(["vol-a", "vol-b", "vol-c2"]));
  // vm1 and vm2 share the default cluster (either may have taken vol-c2 first: swap so they do not).
  if (vm1.host === "vol-c2") [vm1, vmC2] = [vmC2, vm1];
  if (vm2.host === "vol-c2") [vm2, vmC2] = [vmC2, vm2];
}, 120_000);
afterAll(async () => { await cloud?.stop(); });

const hypervisorOf = (hostName: string) => cloud.fleet.hypervisors[HOSTS.findIndex((h) => h.hostname === hostName)]!;
/** The disk paths of a running VM's simulated domain. */
async function domainDisks(vm: { uuid: string; host: string }): Promise<string[]> {
  return (await domainBlocks(vm)).map((b) => b.path);
}
async function domainBlocks(vm: { uuid: string; host: string }): Promise<{ name: string; path: string }[]> {
  const [s] = await hypervisorOf(vm.host).domainStats(vm.uuid);
  return s?.blocks ?? [];
}

function expectError(r: { status: number; json: Record<string, any> }, status: number, message?: string | RegExp): void {
  expect(r.status, JSON.stringify(r.json)).toBe(status);
  expect(errorShapeProblems(r.status, r.json)).toEqual([]);
  if (message !== undefined) expect(r.json.message).toMatch(message);
}

/** The request is refused with that status (and message), and nothing in the database changed. */
async function refused(method: string, path: string, body: unknown, key: string | undefined, status: number, message?: string | RegExp) {
  const before = await stateDigest(cloud);
  const r = await cloud.api(method, path, body, key);
  expectError(r, status, message);
  await jobsIdle(cloud);
  expect(await stateDigest(cloud)).toBe(before);
  return r;
}

const createVolume = (body: Record<string, unknown>, key = alice) =>
  cloud.api("POST", "/v1/core/volumes", { environment_name: "default", volume_type: "local", ...body }, key);
const getVolume = async (id: number, key = alice) => (await cloud.api("GET", `/v1/core/volumes/${id}`, undefined, key)).json.volume;
const attach = (vmId: number, ids: number[], key = alice) => cloud.api("POST", `/v1/core/virtual-machines/${vmId}/attach-volumes`, { volume_ids: ids }, key);
const detach = (vmId: number, ids: number[], key = alice) => cloud.api("POST", `/v1/core/virtual-machines/${vmId}/detach-volumes`, { volume_ids: ids }, key);
const pools = async () => (await cloud.api("GET", "/v1/admin/storage-pools")).json.storage_pools as Record<string, any>[];
const poolNamed = async (name: string) => (await pools()).find((p) => p.name === name)!;
const volumeRow = async (id: number) => (await cloud.manager.database.db.select().from(volumes).where(eq(volumes.id, id)))[0]!;

async function jobSucceeded(jobId: number): Promise<void> {
  await jobsIdle(cloud);
  const [job] = await cloud.manager.database.db.select().from(jobs).where(eq(jobs.id, jobId));
  expect(job?.status, JSON.stringify(job?.error)).toBe("succeeded");
}

let data: number;
let device: string;

describe("storage pools and volume types", () => {
  it("seeds one local pool per cluster; volume types are the kinds of pools there are", async () => {
    const all = await pools();
    // Hosts register in any order: so are their clusters and pools created. Each holds the root
    // disks (20 GiB) of the VMs of its cluster: two in default, one in c2.
    expect(all.map((p) => [p.name, p.kind, p.region, p.path, p.capacity_gib, p.allocated_gib, p.root_disk_count]).sort()).toEqual([
      ["default-c2-local", "local", "default", "volumes", 16384, 20, 1],
      ["default-default-local", "local", "default", "volumes", 16384, 40, 2],
      ["far-default-local", "local", "far", "volumes", 16384, 0, 0],
    ]);
    const types = await cloud.api("GET", "/v1/core/volume-types", undefined, alice);
    expect(types.status).toBe(200);
    expect(types.json).toEqual({ status: true, message: expect.any(String), volume_types: ["local"] });
  });

  it("admin routes: create, get, change, delete; users are refused", async () => {
    const cluster = (await poolNamed("default-default-local")).cluster_id;
    const created = await cloud.api("POST", "/v1/admin/storage-pools", { name: "nfs-1", cluster_id: cluster, kind: "shared", path: "/mnt/nfs", capacity_gib: 100 });
    expect(created.status, JSON.stringify(created.json)).toBe(201);
    expect(created.json.storage_pool).toMatchObject({ name: "nfs-1", kind: "shared", capacity_gib: 100, allocated_gib: 0, free_gib: 100, volume_count: 0, region: "default" });
    const id = created.json.storage_pool.id;
    expect((await cloud.api("GET", `/v1/admin/storage-pools/${id}`)).json.storage_pool.path).toBe("/mnt/nfs");
    expect((await cloud.api("PATCH", `/v1/admin/storage-pools/${id}`, { capacity_gib: 60 })).json.storage_pool.capacity_gib).toBe(60);
    await refused("POST", "/v1/admin/storage-pools", { name: "nfs-1", cluster_id: cluster, kind: "shared", path: "/x", capacity_gib: 1 }, undefined, 409, /already exists/);
    await refused("POST", "/v1/admin/storage-pools", { name: "nfs-2", cluster_id: 999, kind: "shared", path: "/x", capacity_gib: 1 }, undefined, 400, /cluster 999 does not exist/);
    await refused("POST", "/v1/admin/storage-pools", { name: "nfs-2", cluster_id: cluster, kind: "ceph", path: "/x", capacity_gib: 1 }, undefined, 400);
    await refused("GET", "/v1/admin/storage-pools", undefined, alice, 403);
    const spare = await cloud.api("POST", "/v1/admin/storage-pools", { name: "spare", cluster_id: cluster, kind: "shared", path: "/mnt/s", capacity_gib: 1 });
    expect((await cloud.api("DELETE", `/v1/admin/storage-pools/${spare.json.storage_pool.id}`)).status).toBe(200);
    expect((await cloud.api("GET", `/v1/admin/storage-pools/${spare.json.storage_pool.id}`)).status).toBe(404);
    expect((await cloud.api("GET", "/v1/core/volume-types", undefined, alice)).json.volume_types).toEqual(["local", "shared"]);
  });
});

describe("volumes", () => {
  it("creates a volume in Hyperstack's shape, its size reserved in the region's local pool", async () => {
    const r = await createVolume({ name: "data", size: 10, description: "scratch" });
    expect(r.status, JSON.stringify(r.json)).toBe(200);
    const v = r.json.volume;
    expect(v).toEqual({
      id: expect.any(Number), name: "data", description: "scratch", volume_type: "local", size: 10, status: "available",
      bootable: false, image_id: null, os_image: null, callback_url: null, attachments: [],
      environment: { name: "default", region: "default", features: { network_optimised: false, green_status: "NOT_GREEN" } },
      storage_pool: null, host: null, created_at: expect.any(String), updated_at: expect.any(String),
    });
    data = v.id;
    // In one of the region's two local pools (the emptiest: c2's, holding one VM's root disk of 20 GiB to default's 40).
    const local = (await pools()).filter((p) => p.region === "default" && p.kind === "local");
    expect(local.map((p) => p.allocated_gib).sort()).toEqual([30, 40]);
    expect(local.find((p) => p.allocated_gib === 30)!.id).toBe((await volumeRow(data)).poolId);
    // Volumes are per account for every role: the admin's account has none of alice's.
    expect((await cloud.api("GET", `/v1/core/volumes/${data}`)).status).toBe(404);
  });

  it("lists the caller's volumes with Hyperstack's paging, search and environment filters", async () => {
    const list = await cloud.api("GET", "/v1/core/volumes?page=1&pageSize=10", undefined, alice);
    expect(list.json).toMatchObject({ status: true, count: 1, page: 1, page_size: 10, volumes: [{ id: data, name: "data" }] });
    expect((await cloud.api("GET", "/v1/core/volumes?search=DAT", undefined, alice)).json.count).toBe(1);
    expect((await cloud.api("GET", "/v1/core/volumes?search=nope", undefined, alice)).json.count).toBe(0);
    expect((await cloud.api("GET", "/v1/core/volumes?environment=default", undefined, alice)).json.count).toBe(1);
    expect((await cloud.api("GET", "/v1/core/volumes?environment=far", undefined, alice)).json.count).toBe(0);
    expect((await cloud.api("GET", "/v1/core/volumes", undefined, bob)).json).toMatchObject({ count: 0, volumes: [] });
  });

  it("attaches to a running VM hot: a job, the simulated domain gets the disk, the VM shows it", async () => {
    const r = await attach(vm1.id, [data]);
    expect(r.status, JSON.stringify(r.json)).toBe(200);
    expect(r.json.volume_attachments).toEqual([{
      id: expect.any(Number), volume_id: data, instance_id: vm1.id, device: "", status: "attaching", protected: false,
      created_at: expect.any(String), job_id: expect.any(Number),
    }]);
    await jobSucceeded(r.json.volume_attachments[0].job_id);
    const row = await volumeRow(data);
    expect(row.path).toBe(`volumes/${row.uuid}.qcow2`);
    // The device is the one the host attached it as.
    const block = (await domainBlocks(vm1)).find((b) => b.path === row.path);
    expect(block).toBeDefined();
    device = `/dev/${block!.name}`;
    const v = await getVolume(data);
    expect(v).toMatchObject({ status: "in-use", attachments: [{ instance_id: vm1.id, device, status: "attached", protected: false }] });
    const instance = (await cloud.api("GET", `/v1/core/virtual-machines/${vm1.id}`, undefined, alice)).json.instance;
    expect(instance.volume_attachments).toEqual([{
      id: expect.any(Number), device, status: "attached", protected: false, created_at: expect.any(String),
      volume: { id: data, name: "data", size: 10, description: "scratch", bootable: false, volume_type: "local" },
    }]);
    // The host created its file (the simulator records it).
    expect(hypervisorOf(vm1.host).diskFiles.has(row.path)).toBe(true);
    // The local volume now lives on vm1's host.
    const [host] = (await cloud.api("GET", "/v1/admin/hosts")).json.hosts.filter((h: any) => h.name === vm1.host);
    expect(row.hostId).toBe(host.id);
  });

  it("keeps the volume attached across a stop and a start (the spec lists it)", async () => {
    const row = await volumeRow(data);
    for (const action of ["stop", "start"]) {
      const r = await cloud.api("GET", `/v1/core/virtual-machines/${vm1.id}/${action}`, undefined, alice);
      expect(r.status, JSON.stringify(r.json)).toBe(200);
      await jobSucceeded(r.json.job_id);
    }
    expect(await domainDisks(vm1)).toContain(row.path);
    expect(await getVolume(data)).toMatchObject({ status: "in-use", attachments: [{ instance_id: vm1.id, status: "attached" }] });
  });

  it("refuses, with nothing changed: attached twice, a second VM, delete while attached, unknown and other accounts' volumes and VMs", async () => {
    await refused("POST", `/v1/core/virtual-machines/${vm1.id}/attach-volumes`, { volume_ids: [data] }, alice, 409, `volume ${data} is already attached to virtual machine ${vm1.id}`);
    await refused("POST", `/v1/core/virtual-machines/${vm2.id}/attach-volumes`, { volume_ids: [data] }, alice, 409, /attaches to one VM at a time/);
    await refused("DELETE", `/v1/core/volumes/${data}`, undefined, alice, 409, /is attached to virtual machine .* detach it first/);
    await refused("POST", `/v1/core/virtual-machines/${vm1.id}/attach-volumes`, { volume_ids: [999999] }, alice, 404, /volume 999999/);
    await refused("POST", `/v1/core/virtual-machines/${vm1.id}/attach-volumes`, { volume_ids: [] }, alice, 400);
    await refused("POST", `/v1/core/virtual-machines/${vm1.id}/attach-volumes`, { volume_ids: [data, data] }, alice, 400, /named twice/);
    // Bob sees neither alice's volume nor her VMs.
    await refused("GET", `/v1/core/volumes/${data}`, undefined, bob, 404);
    await refused("DELETE", `/v1/core/volumes/${data}`, undefined, bob, 404);
    await refused("POST", `/v1/core/virtual-machines/${vm1.id}/detach-volumes`, { volume_ids: [data] }, bob, 404);
    const bobs = await createVolume({ name: "bobs", size: 1 }, bob);
    expect(bobs.status).toBe(200);
    await refused("POST", `/v1/core/virtual-machines/${vm2.id}/attach-volumes`, { volume_ids: [bobs.json.volume.id] }, alice, 404, /volume/);
    await refused("POST", `/v1/core/virtual-machines/${vm2.id}/detach-volumes`, { volume_ids: [data] }, alice, 409, `volume ${data} is not attached to virtual machine ${vm2.id}`);
  });

  it("refuses a volume that does not fit its pool, naming the pool and the numbers", async () => {
    const numbers = (await pools()).filter((p) => p.region === "default" && p.kind === "local")
      .map((p) => `storage pool ${p.name} has ${p.capacity_gib - p.allocated_gib} GiB free (capacity ${p.capacity_gib} GiB, allocated ${p.allocated_gib} GiB)`);
    expect(numbers).toHaveLength(2);
    const r = await refused("POST", "/v1/core/volumes", { name: "huge", environment_name: "default", volume_type: "local", size: 20000 }, alice, 409);
    expect(r.json.message).toContain("a 20000 GiB volume does not fit: ");
    for (const n of numbers) expect(r.json.message).toContain(n);
    expect(r.json).toMatchObject({ code: "conflict", state: "storage_pool_full" });
    await refused("POST", "/v1/core/volumes", { name: "x", environment_name: "default", volume_type: "fast", size: 1 }, alice, 400, /volume_type "fast"/);
    await refused("POST", "/v1/core/volumes", { name: "x", environment_name: "far", volume_type: "shared", size: 1 }, alice, 400, /region far has no storage pool of volume type shared/);
    await refused("POST", "/v1/core/volumes", { name: "x", environment_name: "nowhere", volume_type: "local", size: 1 }, alice, 404, /environment "nowhere"/);
    await refused("POST", "/v1/core/volumes", { name: "x", environment_name: "default", volume_type: "local", size: 0 }, alice, 400);
    await refused("POST", "/v1/core/volumes", { name: "x", environment_name: "default", volume_type: "local", size: 1, image_id: 999 }, alice, 404, /image/);
  });

  it("detaches hot: a job, the domain loses the disk, the volume is available again", async () => {
    const row = await volumeRow(data);
    const r = await detach(vm1.id, [data]);
    expect(r.status, JSON.stringify(r.json)).toBe(200);
    expect(r.json.volume_attachments).toMatchObject([{ volume_id: data, instance_id: vm1.id, status: "detaching", device }]);
    await jobSucceeded(r.json.volume_attachments[0].job_id);
    expect(await getVolume(data)).toMatchObject({ status: "available", attachments: [] });
    expect(await domainDisks(vm1)).not.toContain(row.path);
    expect((await cloud.api("GET", `/v1/core/virtual-machines/${vm1.id}`, undefined, alice)).json.instance.volume_attachments).toEqual([]);
  });

  it("attaches to a stopped VM (to its definition): the start brings the disk up; refuses a VM in another state", async () => {
    const r = await createVolume({ name: "cold", size: 1 });
    const id = r.json.volume.id;
    const power = async (action: string) => {
      const p = await cloud.api("GET", `/v1/core/virtual-machines/${vm1.id}/${action}`, undefined, alice);
      expect(p.status, JSON.stringify(p.json)).toBe(200);
      return p.json.job_id as number;
    };
    // While the stop runs, the VM is Stopping: no attach then.
    const stopJob = await power("stop");
    const during = await attach(vm1.id, [id]);
    if (during.status !== 200) expectError(during, 409, /is (Stopping|Running): volumes attach when it is Running or Stopped/);
    await jobSucceeded(stopJob);
    await jobsIdle(cloud);
    if (during.status !== 200) {
      const a = await attach(vm1.id, [id]);
      expect(a.status, JSON.stringify(a.json)).toBe(200);
      await jobSucceeded(a.json.volume_attachments[0].job_id);
    }
    expect(await getVolume(id)).toMatchObject({ status: "in-use", attachments: [{ instance_id: vm1.id, status: "attached" }] });
    await jobSucceeded(await power("start"));
    expect(await domainDisks(vm1)).toContain((await volumeRow(id)).path);
    const d = await detach(vm1.id, [id]);
    await jobSucceeded(d.json.volume_attachments[0].job_id);
    expect(await domainDisks(vm1)).not.toContain((await volumeRow(id)).path);
    expect((await cloud.api("DELETE", `/v1/core/volumes/${id}`, undefined, alice)).status).toBe(200);
    await jobsIdle(cloud);
  });

  it("a local volume stays on its host: attaching it to a VM on another host is refused", async () => {
    const row = await volumeRow(data);
    await refused("POST", `/v1/core/virtual-machines/${vm2.id}/attach-volumes`, { volume_ids: [data] }, alice, 409, `local volume ${data} lives on host ${vm1.host}`);
    expect((await volumeRow(data)).hostId).toBe(row.hostId);
  });

  it("a volume no host has created yet moves to a pool of the VM's cluster at its first attach", async () => {
    const r = await createVolume({ name: "mover", size: 2 });
    const id = r.json.volume.id;
    const before = await volumeRow(id);
    const all = await pools();
    const from = all.find((p) => p.id === before.poolId)!;
    const vm = from.name === "default-c2-local" ? vm1 : vmC2;
    const to = all.find((p) => p.name === (from.name === "default-c2-local" ? "default-default-local" : "default-c2-local"))!;
    const a = await attach(vm.id, [id]);
    expect(a.status, JSON.stringify(a.json)).toBe(200);
    await jobSucceeded(a.json.volume_attachments[0].job_id);
    const after = await volumeRow(id);
    expect(after.poolId).toBe(to.id);
    expect((await poolNamed(from.name)).allocated_gib).toBe(from.allocated_gib - 2);
    expect((await poolNamed(to.name)).allocated_gib).toBe(to.allocated_gib + 2);
    expect(await domainDisks(vm)).toContain(after.path);
    // Created now: it stays in that cluster (and on that host).
    const other = vm === vm1 ? vmC2 : vm1;
    const d = await detach(vm.id, [id]);
    await jobSucceeded(d.json.volume_attachments[0].job_id);
    await refused("POST", `/v1/core/virtual-machines/${other.id}/attach-volumes`, { volume_ids: [id] }, alice, 409, /which is not in the cluster/);
    expect((await cloud.api("DELETE", `/v1/core/volumes/${id}`, undefined, alice)).status).toBe(200);
    await jobsIdle(cloud);
  });

  it("refuses a volume of another environment", async () => {
    const env = await cloud.api("POST", "/v1/core/environments", { name: "side", region: "default" }, alice);
    expect(env.status, JSON.stringify(env.json)).toBe(200);
    const side = await createVolume({ name: "side-vol", size: 1, environment_name: "side" });
    expect(side.status).toBe(200);
    await refused("POST", `/v1/core/virtual-machines/${vm1.id}/attach-volumes`, { volume_ids: [side.json.volume.id] }, alice, 409, /another environment/);
    // One refused volume attaches none of the others named with it.
    await refused("POST", `/v1/core/virtual-machines/${vm1.id}/attach-volumes`, { volume_ids: [data, side.json.volume.id] }, alice, 409, /another environment/);
  });

  it("a shared volume attaches anywhere in the cluster; deleting its VM detaches it", async () => {
    const r = await createVolume({ name: "shared", size: 5, volume_type: "shared" });
    expect(r.status, JSON.stringify(r.json)).toBe(200);
    const id = r.json.volume.id;
    expect((await poolNamed("nfs-1")).allocated_gib).toBe(5);
    const row = await volumeRow(id);
    expect(row.path).toBe(`/mnt/nfs/${row.uuid}.qcow2`);
    // Not in another cluster of the region, though.
    await refused("POST", `/v1/core/virtual-machines/${vmC2.id}/attach-volumes`, { volume_ids: [id] }, alice, 409, /storage pool nfs-1, which is not in the cluster of virtual machine .* host vol-c2/);
    const a = await attach(vm2.id, [id]);
    expect(a.status, JSON.stringify(a.json)).toBe(200);
    await jobSucceeded(a.json.volume_attachments[0].job_id);
    expect(await domainDisks(vm2)).toContain(row.path);
    const del = await cloud.api("DELETE", `/v1/core/virtual-machines/${vm2.id}`, undefined, alice);
    expect(del.status, JSON.stringify(del.json)).toBe(200);
    await jobsIdle(cloud);
    expect(await getVolume(id)).toMatchObject({ status: "available", attachments: [] });
    // Detached, it attaches to a VM on the other host.
    const again = await attach(vm1.id, [id]);
    expect(again.status, JSON.stringify(again.json)).toBe(200);
    await jobSucceeded(again.json.volume_attachments[0].job_id);
    expect(await domainDisks(vm1)).toContain(row.path);
    const off = await detach(vm1.id, [id]);
    await jobSucceeded(off.json.volume_attachments[0].job_id);
  });

  it("creates a bootable volume from an image: its file is an overlay of the image's", async () => {
    // The simulator's images have no file; give this one a path, as a libvirt host's would have.
    const db = cloud.manager.database.db;
    const [image] = await db.update(images).set({ path: "/var/lib/orbit/images/debian-12.qcow2" }).where(eq(images.name, "Debian 12")).returning();
    const r = await createVolume({ name: "boot", size: 20, image_id: image!.id });
    expect(r.status, JSON.stringify(r.json)).toBe(200);
    expect(r.json.volume).toMatchObject({ bootable: true, image_id: image!.id, os_image: "Debian 12", status: "available" });
    const id = r.json.volume.id;
    const a = await attach(vm1.id, [id]);
    await jobSucceeded(a.json.volume_attachments[0].job_id);
    const row = await volumeRow(id);
    expect(hypervisorOf(vm1.host).diskFiles.get(row.path)).toEqual({ backingPath: image!.path });
    // A bootable volume attaches to one VM at a time, as any.
    const other = await createVm("vol-vm-3", [vm1.id]);
    await refused("POST", `/v1/core/virtual-machines/${other.id}/attach-volumes`, { volume_ids: [id] }, alice, 409, /a bootable volume attaches to one VM at a time/);
    const d = await detach(vm1.id, [id]);
    await jobSucceeded(d.json.volume_attachments[0].job_id);
  });

  it("deletes a detached volume, gives its size back and removes its file from its host", async () => {
    const before = (await poolNamed("default-default-local")).allocated_gib;
    const row = await volumeRow(data);
    const r = await cloud.api("DELETE", `/v1/core/volumes/${data}`, undefined, alice);
    expect(r.status, JSON.stringify(r.json)).toBe(200);
    await jobsIdle(cloud);
    const [job] = await cloud.manager.database.db.select().from(jobs).where(eq(jobs.volumeId, data)).orderBy(desc(jobs.id)).limit(1);
    expect([job?.kind, job?.status]).toEqual(["volume.delete", "succeeded"]);
    expect(hypervisorOf(vm1.host).diskFiles.has(row.path)).toBe(false);
    expect((await poolNamed("default-default-local")).allocated_gib).toBe(before - 10);
    expect((await cloud.api("GET", `/v1/core/volumes/${data}`, undefined, alice)).status).toBe(404);
    await refused("DELETE", `/v1/core/volumes/${data}`, undefined, alice, 404);
  });
});

describe("deleting a VM with its volumes (CloudSigma's recurse)", () => {
  /** A new VM of alice's with two fresh local volumes attached: their ids, files and pool. */
  async function vmWithVolumes(name: string) {
    const vm = await createVm(name);
    const ids: number[] = [];
    for (const [i, size] of [3, 4].entries()) {
      const r = await createVolume({ name: `${name}-v${i}`, size });
      expect(r.status, JSON.stringify(r.json)).toBe(200);
      ids.push(r.json.volume.id);
    }
    const a = await attach(vm.id, ids);
    expect(a.status, JSON.stringify(a.json)).toBe(200);
    for (const att of a.json.volume_attachments) await jobSucceeded(att.job_id);
    const rows = await Promise.all(ids.map(volumeRow));
    // Attached, both live in a local pool of the VM's cluster, their files on its host.
    expect(new Set(rows.map((r) => r.poolId)).size).toBe(1);
    const paths = rows.map((r) => r.path);
    for (const p of paths) expect(hypervisorOf(vm.host).diskFiles.has(p)).toBe(true);
    expect((await domainDisks(vm)).filter((d) => paths.includes(d)).sort()).toEqual([...paths].sort());
    return { vm, ids, paths, poolId: rows[0]!.poolId };
  }
  const pool = async (id: number) => (await pools()).find((p) => p.id === id)!;
  /** The VM's root disk (in the same pool as its local volumes: its cluster's), given back by its delete too. */
  const rootDisk = async (id: number) => (await cloud.manager.database.db.select({ gib: vms.rootDiskGib }).from(vms).where(eq(vms.id, id)))[0]!.gib ?? 0;
  const listedIds = async () => ((await cloud.api("GET", "/v1/core/volumes?page_size=100", undefined, alice)).json.volumes as { id: number }[]).map((v) => v.id);

  it("recurse=all_drives deletes the attached volumes: gone from the list, their files removed, their GiB back in the pool", async () => {
    const { vm, ids, paths, poolId } = await vmWithVolumes("rec-all");
    const before = await pool(poolId);
    const root = await rootDisk(vm.id);
    const del = await cloud.api("DELETE", `/v1/core/virtual-machines/${vm.id}?recurse=all_drives`, undefined, alice);
    expect(del.status, JSON.stringify(del.json)).toBe(200);
    // The answer still shows what goes with it.
    expect((del.json.instance.volume_attachments as { volume: { id: number } }[]).map((a) => a.volume.id).sort()).toEqual([...ids].sort());
    await jobsIdle(cloud);
    expect((await cloud.api("GET", `/v1/core/virtual-machines/${vm.id}`, undefined, alice)).status).toBe(404);
    const listed = await listedIds();
    for (const id of ids) {
      expect(listed).not.toContain(id);
      expect((await cloud.api("GET", `/v1/core/volumes/${id}`, undefined, alice)).status).toBe(404);
      const [job] = await cloud.manager.database.db.select().from(jobs).where(eq(jobs.volumeId, id)).orderBy(desc(jobs.id)).limit(1);
      expect([job?.kind, job?.status]).toEqual(["volume.delete", "succeeded"]);
    }
    for (const p of paths) expect(hypervisorOf(vm.host).diskFiles.has(p)).toBe(false);
    const after = await pool(poolId);
    expect(after.allocated_gib).toBe(before.allocated_gib - 7 - root);
    expect(after.free_gib).toBe(before.free_gib + 7 + root);
    expect(after.volume_count).toBe(before.volume_count - 2);
  });

  for (const recurse of [undefined, "none", "cdroms"] as const) {
    it(`${recurse === undefined ? "a plain delete" : `recurse=${recurse}`} keeps the attached volumes: available, unattached, their files and GiB kept`, async () => {
      const { vm, ids, paths, poolId } = await vmWithVolumes(`rec-${recurse ?? "plain"}`);
      const before = await pool(poolId);
      const root = await rootDisk(vm.id);
      const del = await cloud.api("DELETE", `/v1/core/virtual-machines/${vm.id}${recurse ? `?recurse=${recurse}` : ""}`, undefined, alice);
      expect(del.status, JSON.stringify(del.json)).toBe(200);
      await jobsIdle(cloud);
      expect((await cloud.api("GET", `/v1/core/virtual-machines/${vm.id}`, undefined, alice)).status).toBe(404);
      const listed = await listedIds();
      for (const id of ids) {
        expect(listed).toContain(id);
        expect(await getVolume(id)).toMatchObject({ id, status: "available", attachments: [] });
      }
      for (const p of paths) expect(hypervisorOf(vm.host).diskFiles.has(p)).toBe(true);
      const after = await pool(poolId);
      // Only the VM's root disk goes.
      expect([after.allocated_gib, after.volume_count]).toEqual([before.allocated_gib - root, before.volume_count]);
      // Kept, they are deleted as any other volume afterwards (and then give their GiB back).
      for (const id of ids) expect((await cloud.api("DELETE", `/v1/core/volumes/${id}`, undefined, alice)).status).toBe(200);
      await jobsIdle(cloud);
      expect((await pool(poolId)).allocated_gib).toBe(before.allocated_gib - root - 7);
    });
  }
});

describe("volume name availability", () => {
  it("a name is taken by the caller's live volumes only: not by another account's, not by a deleted one", async () => {
    const made = await createVolume({ name: "name-check", size: 1 });
    expect(made.status).toBe(200);
    const check = async (name: string, key: string) => {
      const r = await cloud.api("GET", `/v1/core/volume/name-availability/${encodeURIComponent(name)}`, undefined, key);
      expect(r.status, JSON.stringify(r.json)).toBe(200);
      expect(r.json.name).toBe(name);
      return r.json as { available: boolean; message: string };
    };
    expect(await check("name-check", alice)).toMatchObject({ available: false, message: /already has a volume named "name-check"/ });
    expect((await check("name-check", bob)).available).toBe(true);
    expect((await check("name-chec", alice)).available).toBe(true);
    expect((await cloud.api("DELETE", `/v1/core/volumes/${made.json.volume.id}`, undefined, alice)).status).toBe(200);
    expect((await check("name-check", alice)).available).toBe(true);
  });

  it("refuses a name of two lines, with nothing changed", async () => {
    await refused("GET", `/v1/core/volume/name-availability/${encodeURIComponent("two\nlines")}`, undefined, alice, 400);
  });
});

describe("changing a volume's environment (PATCH /v1/core/volumes/{id})", () => {
  let vol: number;

  beforeAll(async () => {
    const env = await cloud.api("POST", "/v1/core/environments", { name: "move-to", region: "default" }, alice);
    expect(env.status, JSON.stringify(env.json)).toBe(200);
    const r = await createVolume({ name: "mover", size: 1 });
    expect(r.status).toBe(200);
    vol = r.json.volume.id;
  });

  it("moves a detached volume to another environment of the region; its pool and file stay; listing by environment follows", async () => {
    const before = await volumeRow(vol);
    const r = await cloud.api("PATCH", `/v1/core/volumes/${vol}`, { environment_name: "move-to" }, alice);
    expect(r.status, JSON.stringify(r.json)).toBe(200);
    expect(r.json.updates).toEqual({ environment_name: "move-to" });
    expect(r.json.volume).toMatchObject({ id: vol, environment: { name: "move-to", region: "default" }, status: "available" });
    const after = await volumeRow(vol);
    expect(after.environmentId).not.toBe(before.environmentId);
    expect({ pool: after.poolId, path: after.path, size: after.sizeGib }).toEqual({ pool: before.poolId, path: before.path, size: before.sizeGib });
    expect((await getVolume(vol)).environment.name).toBe("move-to");
    const listed = await cloud.api("GET", "/v1/core/volumes?environment=move-to", undefined, alice);
    expect(listed.json.volumes.map((v: any) => v.id)).toEqual([vol]);
    // The same environment again changes nothing and says so.
    const digest = await stateDigest(cloud);
    const again = await cloud.api("PATCH", `/v1/core/volumes/${vol}`, { environment_name: "move-to" }, alice);
    expect(again.status).toBe(200);
    expect(again.json.updates).toEqual({});
    expect(await stateDigest(cloud)).toBe(digest);
    // Back to the region's implicit environment; its VMs can then take it.
    expect((await cloud.api("PATCH", `/v1/core/volumes/${vol}`, { environment_name: "default" }, alice)).json.volume.environment.name).toBe("default");
  });

  it("refuses, with nothing changed: attached, unknown environment, another region, another account's volume, bad bodies", async () => {
    const a = await attach(vm1.id, [vol]);
    expect(a.status, JSON.stringify(a.json)).toBe(200);
    await jobsIdle(cloud);
    await refused("PATCH", `/v1/core/volumes/${vol}`, { environment_name: "move-to" }, alice, 409, /attached to virtual machine .* detach it before changing its environment/);
    const d = await detach(vm1.id, [vol]);
    expect(d.status, JSON.stringify(d.json)).toBe(200);
    await jobsIdle(cloud);
    await refused("PATCH", `/v1/core/volumes/${vol}`, { environment_name: "nowhere" }, alice, 404, /environment "nowhere" does not exist/);
    // "far" is another region: its implicit environment is not created by the refusal (the digest proves it).
    await refused("PATCH", `/v1/core/volumes/${vol}`, { environment_name: "far" }, alice, 400, /is in region far; volume .* stored in region default/);
    // Bob's environment of the same name is not alice's, and alice's volume is not bob's.
    expect((await cloud.api("POST", "/v1/core/environments", { name: "bobs-env", region: "default" }, bob)).status).toBe(200);
    await refused("PATCH", `/v1/core/volumes/${vol}`, { environment_name: "bobs-env" }, alice, 404, /bobs-env/);
    await refused("PATCH", `/v1/core/volumes/${vol}`, { environment_name: "default" }, bob, 404, /volume/);
    await refused("PATCH", "/v1/core/volumes/999999", { environment_name: "default" }, alice, 404);
    await refused("PATCH", `/v1/core/volumes/${vol}`, {}, alice, 400);
    await refused("PATCH", `/v1/core/volumes/${vol}`, { environment_name: "move-to", size: 9 }, alice, 400);
  });
});

describe("protecting a volume attachment (PATCH /v1/core/volume-attachments/{id})", () => {
  let vol: number;
  let attachmentId: number;

  beforeAll(async () => {
    const r = await createVolume({ name: "guarded", size: 1 });
    expect(r.status).toBe(200);
    vol = r.json.volume.id;
    const a = await attach(vm1.id, [vol]);
    expect(a.status, JSON.stringify(a.json)).toBe(200);
    attachmentId = a.json.volume_attachments[0].id;
    await jobsIdle(cloud);
  });

  it("protects: the answer and the volume show it, detach is refused with nothing changed; unprotected, it detaches", async () => {
    const r = await cloud.api("PATCH", `/v1/core/volume-attachments/${attachmentId}`, { protected: true }, alice);
    expect(r.status, JSON.stringify(r.json)).toBe(200);
    expect(r.json.volume_attachments).toEqual([expect.objectContaining({ id: attachmentId, volume_id: vol, instance_id: vm1.id, status: "attached", protected: true })]);
    expect((await getVolume(vol)).attachments).toMatchObject([{ id: attachmentId, protected: true }]);
    await refused("POST", `/v1/core/virtual-machines/${vm1.id}/detach-volumes`, { volume_ids: [vol] }, alice, 409, /protected/);
    const off = await cloud.api("PATCH", `/v1/core/volume-attachments/${attachmentId}`, { protected: false }, alice);
    expect(off.json.volume_attachments[0].protected).toBe(false);
    const d = await detach(vm1.id, [vol]);
    expect(d.status, JSON.stringify(d.json)).toBe(200);
    await jobSucceeded(d.json.volume_attachments[0].job_id);
    expect(await getVolume(vol)).toMatchObject({ status: "available", attachments: [] });
  });

  it("refuses, with nothing changed: another account's attachment, an unknown or gone one, bad bodies", async () => {
    const a = await attach(vm1.id, [vol]);
    expect(a.status).toBe(200);
    const id = a.json.volume_attachments[0].id as number;
    await jobsIdle(cloud);
    await refused("PATCH", `/v1/core/volume-attachments/${id}`, { protected: true }, bob, 404, /volume attachment/);
    await refused("PATCH", `/v1/core/volume-attachments/${attachmentId}`, { protected: true }, alice, 404, /volume attachment/);
    await refused("PATCH", "/v1/core/volume-attachments/999999", { protected: true }, alice, 404);
    await refused("PATCH", `/v1/core/volume-attachments/${id}`, {}, alice, 400);
    await refused("PATCH", `/v1/core/volume-attachments/${id}`, { protected: "yes" }, alice, 400);
    await refused("PATCH", `/v1/core/volume-attachments/${id}`, { protected: true, device: "/dev/vdz" }, alice, 400);
    await jobSucceeded((await detach(vm1.id, [vol])).json.volume_attachments[0].job_id);
  });
});
