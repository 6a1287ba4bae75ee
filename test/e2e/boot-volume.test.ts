// VMs booting from bootable volumes (Hyperstack's create with volume_name, or with
// create_bootable_volume) through manager → gRPC → agent → simulator: the volume is the VM's first
// disk (its file made by the VM's host as an overlay of the image), shown in the instance's
// volume_attachments; deleting the VM keeps the volume, available with the same id, and a new VM
// boots from it again on the host where it lives. Every refusal is a 4xx with nothing changed.
import { eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { hosts, images, storagePools, volumes } from "../../manager/src/db/schema.js";
import { createUserKey, errorShapeProblems, jobsIdle, startTestCloud, stateDigest, type TestCloud } from "./harness.js";

let cloud: TestCloud;
let alice: string;
let bob: string;
let imagePath: string;

const HOSTS = [
  { hostname: "bv-a", uuid: "7b000000-0000-4000-8000-000000000001", cpus: 8, memoryMib: 16384 },
  { hostname: "bv-b", uuid: "7b000000-0000-4000-8000-000000000002", cpus: 8, memoryMib: 16384 },
  { hostname: "bv-c2", uuid: "7b000000-0000-4000-8000-000000000003", cpus: 8, memoryMib: 16384, cluster: "c2" },
];
const hypervisorOf = (hostName: string) => cloud.fleet.hypervisors[HOSTS.findIndex((h) => h.hostname === hostName)]!;

beforeAll(async () => {
  cloud = await startTestCloud({ hosts: HOSTS });
  await cloud.waitFor("hosts up", async () => (await cloud.api("GET", "/v1/admin/hosts")).json.hosts?.filter((h: any) => h.state === "Up").length === 3);
  alice = await createUserKey(cloud, "bv-alice");
  bob = await createUserKey(cloud, "bv-bob");
  // The simulator's images have no file; give this one a path, as a libvirt host's would have.
  const [image] = await cloud.manager.database.db.update(images).set({ path: "/var/lib/orbit/images/debian-12.qcow2" })
    .where(eq(images.name, "Debian 12")).returning();
  imagePath = image!.path;
}, 120_000);
afterAll(async () => { await cloud?.stop(); });

const BASE = { environment_name: "default", flavor_name: "n1-cpu-small" };
const createVm = (body: Record<string, unknown>, key = alice) => cloud.api("POST", "/v1/core/virtual-machines", { ...BASE, ...body }, key);
const createVolume = (body: Record<string, unknown>, key = alice) =>
  cloud.api("POST", "/v1/core/volumes", { environment_name: "default", volume_type: "local", size: 20, ...body }, key);
const getVolume = async (id: number) => (await cloud.api("GET", `/v1/core/volumes/${id}`, undefined, alice)).json.volume;
const volumeRow = async (id: number) => (await cloud.manager.database.db.select().from(volumes).where(eq(volumes.id, id)))[0]!;
const adminVm = async (id: number) => (await cloud.api("GET", `/v1/core/virtual-machines/${id}`)).json.instance;
const pools = async () => (await cloud.api("GET", "/v1/admin/storage-pools")).json.storage_pools as Record<string, any>[];

/** The request is refused with that status and message, and nothing in the database changed. */
async function refused(body: Record<string, unknown>, status: number, message: RegExp, key = alice) {
  const before = await stateDigest(cloud);
  const r = await createVm(body, key);
  expect(r.status, JSON.stringify(r.json)).toBe(status);
  expect(errorShapeProblems(r.status, r.json)).toEqual([]);
  expect(r.json.message).toMatch(message);
  await jobsIdle(cloud);
  expect(await stateDigest(cloud)).toBe(before);
}

async function deleteVm(id: number): Promise<void> {
  const r = await cloud.api("DELETE", `/v1/core/virtual-machines/${id}`, undefined, alice);
  expect(r.status, JSON.stringify(r.json)).toBe(200);
  await jobsIdle(cloud);
  expect((await cloud.api("GET", `/v1/core/virtual-machines/${id}`)).status).toBe(404);
}

/** The disk paths of a running VM's simulated domain, in order. */
async function domainDisks(uuid: string, host: string): Promise<string[]> {
  const [s] = await hypervisorOf(host).domainStats(uuid);
  return (s?.blocks ?? []).map((b) => b.path);
}

let rootId: number;
let firstHost: string;

describe("create from volume_name", () => {
  it("boots from the bootable volume: ACTIVE, the volume its first disk, shown in volume_attachments", async () => {
    const v = await createVolume({ name: "root-1", image_id: (await cloud.manager.database.db.select().from(images).where(eq(images.name, "Debian 12")))[0]!.id });
    expect(v.status, JSON.stringify(v.json)).toBe(200);
    rootId = v.json.volume.id;
    const r = await createVm({ name: "bv-1", volume_name: "root-1" });
    expect(r.status, JSON.stringify(r.json)).toBe(200);
    const vmId = r.json.instances[0].id as number;
    expect(r.json.instances[0].volume_attachments).toEqual([expect.objectContaining({
      status: "attaching", volume: expect.objectContaining({ id: rootId, name: "root-1", bootable: true, size: 20 }),
    })]);
    await jobsIdle(cloud);
    const vm = await adminVm(vmId);
    expect(vm.status).toBe("ACTIVE");
    expect(vm.image.name).toBe("Debian 12");
    expect(vm.volume_attachments).toEqual([expect.objectContaining({ device: "/dev/vda", status: "attached", volume: expect.objectContaining({ id: rootId, bootable: true }) })]);
    // The VM is placed in the cluster of the volume's pool (which cluster's pool a create picks
    // depends on which registered first when both are as empty: read it, do not assume it).
    const db = cloud.manager.database.db;
    const [pool] = await db.select().from(storagePools).where(eq(storagePools.id, (await volumeRow(rootId)).poolId));
    const poolHosts = (await db.select({ name: hosts.name }).from(hosts).where(eq(hosts.clusterId, pool!.clusterId))).map((h) => h.name);
    expect(poolHosts).toContain(vm.host);
    firstHost = vm.host;
    const row = await volumeRow(rootId);
    expect((await domainDisks(vm.uuid, vm.host))[0]).toBe(row.path);
    // Its file was made by the VM's host, as an overlay of the image; the volume lives there now.
    expect(hypervisorOf(vm.host).diskFiles.get(row.path)).toEqual({ backingPath: imagePath });
    expect((await volumeRow(rootId)).hostId).not.toBeNull();
    expect(await getVolume(rootId)).toMatchObject({ status: "in-use", attachments: [expect.objectContaining({ instance_id: vmId, device: "/dev/vda" })] });

    // It is the VM's boot disk: not detached on its own.
    const before = await stateDigest(cloud);
    const d = await cloud.api("POST", `/v1/core/virtual-machines/${vmId}/detach-volumes`, { volume_ids: [rootId] }, alice);
    expect(d.status, JSON.stringify(d.json)).toBe(409);
    expect(d.json.message).toMatch(/boot disk of virtual machine/);
    expect(await stateDigest(cloud)).toBe(before);

    // A stop/start defines the domain anew: from the volume again.
    expect((await cloud.api("GET", `/v1/core/virtual-machines/${vmId}/stop`, undefined, alice)).status).toBe(200);
    await jobsIdle(cloud);
    expect((await cloud.api("GET", `/v1/core/virtual-machines/${vmId}/start`, undefined, alice)).status).toBe(200);
    await jobsIdle(cloud);
    expect((await adminVm(vmId)).status).toBe("ACTIVE");
    expect(await domainDisks(vm.uuid, vm.host)).toEqual([row.path]);

    await deleteVm(vmId);
    // Kept, with its data: same id, available, its file still on its host.
    expect(await getVolume(rootId)).toMatchObject({ id: rootId, name: "root-1", status: "available", attachments: [] });
    expect(hypervisorOf(vm.host).diskFiles.get(row.path)).toEqual({ backingPath: imagePath });
  });

  it("boots a new VM from the kept volume, on the host where the local volume lives", async () => {
    // A VM on that host to avoid (helpers spread over the hosts, each avoiding the previous ones):
    // the scheduler would place away from it if it could choose.
    const helpers: { id: number; host: string }[] = [];
    while (!helpers.some((h) => h.host === firstHost)) {
      expect(helpers.length).toBeLessThan(HOSTS.length);
      const h = await createVm({ name: `bv-helper-${helpers.length}`, image_name: "Debian 12", avoid: helpers.map((x) => x.id) });
      expect(h.status, JSON.stringify(h.json)).toBe(200);
      await jobsIdle(cloud);
      helpers.push({ id: h.json.instances[0].id, host: (await adminVm(h.json.instances[0].id)).host });
    }
    const r = await createVm({ name: "bv-2", volume_name: "root-1", avoid: [helpers.find((h) => h.host === firstHost)!.id] });
    expect(r.status, JSON.stringify(r.json)).toBe(200);
    await jobsIdle(cloud);
    const vm = await adminVm(r.json.instances[0].id);
    expect(vm.status).toBe("ACTIVE");
    expect(vm.host).toBe(firstHost);
    expect((await domainDisks(vm.uuid, vm.host))[0]).toBe((await volumeRow(rootId)).path);
    expect(await getVolume(rootId)).toMatchObject({ status: "in-use", attachments: [expect.objectContaining({ instance_id: vm.id })] });
    // Its disk is the volume: no reinstall or clone (both remake an image-backed root disk).
    for (const [path, body] of [["restore", {}], ["clone", { name: "bv-2-copy" }]] as const) {
      const before = await stateDigest(cloud);
      const x = await cloud.api("POST", `/v1/core/virtual-machines/${vm.id}/${path}`, body, alice);
      expect(x.status, JSON.stringify(x.json)).toBe(409);
      expect(x.json.message).toMatch(/boots from volume/);
      expect(await stateDigest(cloud)).toBe(before);
    }
  });

  it("refuses, changing nothing: in use, unknown, another account's, not bootable, both or neither of image_name and volume_name, count > 1", async () => {
    await refused({ name: "x", volume_name: "root-1" }, 409, /attached to virtual machine \d+: a bootable volume boots one VM at a time/);
    await refused({ name: "x", volume_name: "nope" }, 404, /no volume named "nope" in environment "default"/);
    await refused({ name: "x", volume_name: "root-1" }, 404, /no volume named "root-1"/, bob);
    const data = await createVolume({ name: "data-1" });
    expect(data.status).toBe(200);
    await refused({ name: "x", volume_name: "data-1" }, 400, /volume \d+ \(data-1\) is not bootable/);
    await refused({ name: "x", volume_name: "root-1", image_name: "Debian 12" }, 400, /give image_name or volume_name, not both/);
    await refused({ name: "x" }, 400, /image_name or volume_name is required/);
    await refused({ name: "x", volume_name: "data-1", count: 2 }, 400, /count must be 1 with volume_name/);
    await refused({ name: "x", volume_name: "data-1", create_bootable_volume: true }, 400, /create_bootable_volume goes with image_name/);
  });
});

describe("create_bootable_volume", () => {
  it("makes the root disk a new bootable volume named after the VM, which the VM's delete keeps", async () => {
    const allocatedBefore = (await pools()).reduce((s, p) => s + p.allocated_gib, 0);
    const r = await createVm({ name: "bv-new", image_name: "Debian 12", create_bootable_volume: true });
    expect(r.status, JSON.stringify(r.json)).toBe(200);
    const vmId = r.json.instances[0].id as number;
    await jobsIdle(cloud);
    const vm = await adminVm(vmId);
    expect(vm.status).toBe("ACTIVE");
    expect(vm.volume_attachments).toEqual([expect.objectContaining({ device: "/dev/vda", status: "attached", volume: expect.objectContaining({ name: "bv-new-boot", bootable: true }) })]);
    const volumeId = vm.volume_attachments[0].volume.id as number;
    const listed = (await cloud.api("GET", "/v1/core/volumes", undefined, alice)).json.volumes as Record<string, any>[];
    const v = listed.find((x) => x.id === volumeId)!;
    expect(v).toMatchObject({ name: "bv-new-boot", bootable: true, os_image: "Debian 12", status: "in-use" });
    // Its size is reserved in a pool of the VM's cluster, as a volume create's.
    expect((await pools()).reduce((s, p) => s + p.allocated_gib, 0)).toBe(allocatedBefore + v.size);
    const row = await volumeRow(volumeId);
    expect((await domainDisks(vm.uuid, vm.host))[0]).toBe(row.path);
    expect(hypervisorOf(vm.host).diskFiles.get(row.path)).toEqual({ backingPath: imagePath });

    await deleteVm(vmId);
    expect(await getVolume(volumeId)).toMatchObject({ id: volumeId, name: "bv-new-boot", status: "available", attachments: [] });
    expect((await pools()).reduce((s, p) => s + p.allocated_gib, 0)).toBe(allocatedBefore + v.size);
    // And a VM boots from it again.
    const again = await createVm({ name: "bv-new-2", volume_name: "bv-new-boot" });
    expect(again.status, JSON.stringify(again.json)).toBe(200);
    await jobsIdle(cloud);
    expect((await adminVm(again.json.instances[0].id)).status).toBe("ACTIVE");
  });

  it("created stopped: the volume is attached from the deploy, and the first start boots from it", async () => {
    const r = await createVm({ name: "bv-stopped", image_name: "Debian 12", create_bootable_volume: true, start: false });
    expect(r.status, JSON.stringify(r.json)).toBe(200);
    const vmId = r.json.instances[0].id as number;
    await jobsIdle(cloud);
    const stopped = await adminVm(vmId);
    expect(stopped.status).toBe("SHUTOFF");
    expect(stopped.volume_attachments).toEqual([expect.objectContaining({ device: "/dev/vda", status: "attached", volume: expect.objectContaining({ name: "bv-stopped-boot" }) })]);
    const path = (await volumeRow(stopped.volume_attachments[0].volume.id)).path;
    expect(hypervisorOf(stopped.host).diskFiles.has(path)).toBe(false);
    expect((await cloud.api("GET", `/v1/core/virtual-machines/${vmId}/start`, undefined, alice)).status).toBe(200);
    await jobsIdle(cloud);
    expect((await adminVm(vmId)).status).toBe("ACTIVE");
    expect((await domainDisks(stopped.uuid, stopped.host))[0]).toBe(path);
    expect(hypervisorOf(stopped.host).diskFiles.get(path)).toEqual({ backingPath: imagePath });
  });

  it("is refused when no storage pool has room, changing nothing", async () => {
    for (const p of await pools()) {
      const r = await cloud.api("PATCH", `/v1/admin/storage-pools/${p.id}`, { capacity_gib: p.allocated_gib });
      expect(r.status, JSON.stringify(r.json)).toBe(200);
    }
    await refused({ name: "bv-full", image_name: "Debian 12", create_bootable_volume: true }, 409, /GiB volume does not fit: storage pool .* has 0 GiB free/);
  });
});
