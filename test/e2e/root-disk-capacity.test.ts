// VMs' root disks count in their cluster's storage pool (manager/src/storage/root-disks.ts),
// through the API, manager → gRPC → agent → simulator: a create reserves the root disk in the pool
// of its host's cluster with the placement; a delete, or a deploy the host refuses, gives it back;
// a clone reserves its copy again; a restore keeps the size (a bigger image reserves the growth);
// a stopped resize reserves what the disk grows by; an ISO boot's blank disk counts at the flavor's. A pool without room refuses with a 409 naming it and nothing changed, or the
// VM goes to a cluster whose pool has room; concurrent creates never take a pool past capacity.
import { asc, eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { images, vms } from "../../manager/src/db/schema.js";
import { createUserKey, errorShapeProblems, jobsIdle, startTestCloud, stateDigest, type TestCloud } from "./harness.js";

let cloud: TestCloud;
let alice: string;
/** The root disk of an n1-cpu-small VM of Debian 12 (the flavor's disk, never below the image). */
let smallDisk: number;

const HOSTS = [
  { hostname: "rd-a", uuid: "7d000000-0000-4000-8000-000000000001", cpus: 32, memoryMib: 131072 },
  { hostname: "rd-b", uuid: "7d000000-0000-4000-8000-000000000002", cpus: 32, memoryMib: 131072, cluster: "c2" },
];
const POOL_A = "default-default-local";
const POOL_B = "default-c2-local";

const db = () => cloud.manager.database.db;

beforeAll(async () => {
  cloud = await startTestCloud({
    hosts: HOSTS,
    fleet: { failStart: (spec) => (spec.name.startsWith("doomed") ? "simulated QEMU failure: could not open disk image" : undefined) },
  });
  await cloud.waitFor("hosts up", async () => (await cloud.api("GET", "/v1/admin/hosts")).json.hosts?.filter((h: any) => h.state === "Up").length === 2);
  // With image files, VMs get a root disk of their own the host makes (and a clone copies).
  for (const img of await db().select().from(images)) {
    await db().update(images).set({ path: `/images/${img.id}.qcow2` }).where(eq(images.id, img.id));
  }
  const [debian] = await db().select().from(images).where(eq(images.name, "Debian 12"));
  smallDisk = Math.max(20, debian!.sizeGib);
  alice = await createUserKey(cloud, "rd-alice");
}, 120_000);
afterAll(async () => { await cloud?.stop(); });

const pools = async () => (await cloud.api("GET", "/v1/admin/storage-pools")).json.storage_pools as Record<string, any>[];
const pool = async (name: string) => (await pools()).find((p) => p.name === name)!;
const vmRow = async (id: number) => (await db().select().from(vms).where(eq(vms.id, id)))[0]!;
const hostOf = async (id: number) => (await cloud.api("GET", `/v1/core/virtual-machines/${id}`)).json.instance.host as string;

/** Sets a pool's capacity to what it holds plus `free` GiB. */
async function leaveFree(name: string, free: number): Promise<void> {
  const p = await pool(name);
  const r = await cloud.api("PATCH", `/v1/admin/storage-pools/${p.id}`, { capacity_gib: p.allocated_gib + free });
  expect(r.status, JSON.stringify(r.json)).toBe(200);
}

async function roomy(): Promise<void> {
  await leaveFree(POOL_A, 1000);
  await leaveFree(POOL_B, 1000);
}

const createVm = (name: string, body: Record<string, unknown> = {}) => cloud.api("POST", "/v1/core/virtual-machines", {
  name, environment_name: "default", flavor_name: "n1-cpu-small", image_name: "Debian 12", ...body,
}, alice);

async function created(name: string, body: Record<string, unknown> = {}): Promise<number> {
  const r = await createVm(name, body);
  expect(r.status, JSON.stringify(r.json)).toBe(200);
  await jobsIdle(cloud);
  return r.json.instances[0].id as number;
}

async function deleteVm(id: number): Promise<void> {
  const r = await cloud.api("DELETE", `/v1/core/virtual-machines/${id}`, undefined, alice);
  expect(r.status, JSON.stringify(r.json)).toBe(200);
  await jobsIdle(cloud);
}

/** The request is refused with that status and message, and nothing in the database changed. */
async function refused(method: string, path: string, body: unknown, status: number, message: RegExp) {
  await jobsIdle(cloud);
  const before = (await stateDigest(cloud)) + JSON.stringify(await db().select().from(vms).orderBy(asc(vms.id)));
  const r = await cloud.api(method, path, body, alice);
  expect(r.status, JSON.stringify(r.json)).toBe(status);
  expect(errorShapeProblems(r.status, r.json)).toEqual([]);
  expect(r.json.message).toMatch(message);
  await jobsIdle(cloud);
  expect((await stateDigest(cloud)) + JSON.stringify(await db().select().from(vms).orderBy(asc(vms.id)))).toBe(before);
  return r.json;
}

const allocated = async () => Object.fromEntries((await pools()).map((p) => [p.name, [p.allocated_gib, p.root_disk_count]]));

describe("root disks in storage pools", () => {
  it("a create reserves the root disk in its host's cluster's pool (shown there) and its delete gives it back", async () => {
    await roomy();
    const before = await allocated();
    const id = await created("rd-1");
    const row = await vmRow(id);
    const poolName = (await hostOf(id)) === "rd-a" ? POOL_A : POOL_B;
    expect(row.rootDiskGib).toBe(smallDisk);
    expect(row.rootDiskPoolId).toBe((await pool(poolName)).id);
    expect((await pool(poolName)).allocated_gib).toBe(before[poolName]![0] + smallDisk);
    expect((await pool(poolName)).root_disk_count).toBe(before[poolName]![1] + 1);
    await deleteVm(id);
    expect(await allocated()).toEqual(before);
    expect((await vmRow(id)).rootDiskPoolId).toBeNull();
  });

  it("a deploy the host refuses gives the root disk back with the host's capacity", async () => {
    const before = await allocated();
    const r = await createVm("doomed-1");
    expect(r.status, JSON.stringify(r.json)).toBe(200);
    const id = r.json.instances[0].id as number;
    // The failed job's hook moves the VM to Error after the job is recorded failed.
    await cloud.waitFor("VM error", async () => (await vmRow(id)).state === "Error");
    expect(await allocated()).toEqual(before);
    // Its delete later gives nothing back twice.
    await deleteVm(id);
    expect(await allocated()).toEqual(before);
  });

  it("a full pool refuses the create with a 409 naming it, changing nothing; a cluster whose pool has room takes the VM", async () => {
    await leaveFree(POOL_A, smallDisk - 1);
    await leaveFree(POOL_B, smallDisk - 1);
    const body = await refused("POST", "/v1/core/virtual-machines", { name: "rd-full", environment_name: "default", flavor_name: "n1-cpu-small", image_name: "Debian 12" },
      409, new RegExp(`storage pool default-(default|c2)-local is full: ${smallDisk - 1} GiB free, ${smallDisk} GiB needed`));
    expect(body.error_reason ?? body.message).toBeTruthy();
    // Only c2's pool has room: every VM goes to rd-b, whichever host the allocator would rather have.
    await leaveFree(POOL_B, 3 * smallDisk);
    const ids: number[] = [];
    for (const n of [1, 2, 3]) {
      ids.push(await created(`rd-fallback-${n}`));
      expect(await hostOf(ids.at(-1)!)).toBe("rd-b");
    }
    expect((await pool(POOL_B)).free_gib).toBe(0);
    for (const id of ids) await deleteVm(id);
    await roomy();
  });

  it("concurrent creates never take a pool past its capacity; a count that does not fit whole is refused whole", async () => {
    await leaveFree(POOL_A, 3 * smallDisk);
    await leaveFree(POOL_B, 0);
    const before = await pool(POOL_A);
    const answers = await Promise.all(Array.from({ length: 6 }, (_, i) => createVm(`rd-race-${i}`)));
    const ok = answers.filter((r) => r.status === 200);
    expect(ok).toHaveLength(3);
    for (const r of answers.filter((x) => x.status !== 200)) {
      expect(r.status, JSON.stringify(r.json)).toBe(409);
      expect(r.json.message).toMatch(/storage pool default-(default|c2)-local is full/);
    }
    await jobsIdle(cloud);
    const after = await pool(POOL_A);
    expect(after.allocated_gib).toBe(before.allocated_gib + 3 * smallDisk);
    expect(after.allocated_gib).toBeLessThanOrEqual(after.capacity_gib);
    for (const r of ok) await deleteVm(r.json.instances[0].id);
    await leaveFree(POOL_A, smallDisk);
    await refused("POST", "/v1/core/virtual-machines", { name: "rd-two", count: 2, environment_name: "default", flavor_name: "n1-cpu-small", image_name: "Debian 12" },
      409, /is full/);
    await roomy();
  });

  it("a clone reserves its copy again, a restore keeps the size, a stopped resize reserves the growth or is refused", async () => {
    const before = await allocated();
    // Started once, so that its host made its root disk (a clone copies it), then stopped.
    const src = await created("rd-src");
    expect((await cloud.api("POST", `/v1/core/virtual-machines/${src}/stop`, undefined, alice)).status).toBe(200);
    await jobsIdle(cloud);
    const poolName = (await hostOf(src)) === "rd-a" ? POOL_A : POOL_B;
    const base = (await pool(poolName)).allocated_gib;

    const clone = await cloud.api("POST", `/v1/core/virtual-machines/${src}/clone`, { name: "rd-copy", start: false }, alice);
    expect(clone.status, JSON.stringify(clone.json)).toBe(200);
    await jobsIdle(cloud);
    const copyId = clone.json.instance.id as number;
    expect(await vmRow(copyId)).toMatchObject({ rootDiskGib: smallDisk, rootDiskPoolId: (await pool(poolName)).id });
    expect((await pool(poolName)).allocated_gib).toBe(base + smallDisk);
    // The copy is made on the source's host: with its pool full, the clone is refused.
    await leaveFree(poolName, smallDisk - 1);
    await refused("POST", `/v1/core/virtual-machines/${src}/clone`, { name: "rd-copy-2", start: false }, 409, /is full/);
    await roomy();

    const restore = await cloud.api("POST", `/v1/core/virtual-machines/${src}/restore`, undefined, alice);
    expect(restore.status, JSON.stringify(restore.json)).toBe(200);
    await jobsIdle(cloud);
    expect((await vmRow(src)).state).toBe("Stopped");
    expect((await pool(poolName)).allocated_gib).toBe(base + smallDisk);

    // n1-cpu-medium's disk is 50 GiB: the root disk grows by the difference.
    const medium = Math.max(50, smallDisk);
    const resized = await cloud.api("POST", `/v1/core/virtual-machines/${src}/resize`, { flavor_name: "n1-cpu-medium" }, alice);
    expect(resized.status, JSON.stringify(resized.json)).toBe(200);
    expect((await vmRow(src)).rootDiskGib).toBe(medium);
    expect((await pool(poolName)).allocated_gib).toBe(base + smallDisk + medium - smallDisk);
    // n1-cpu-large's 100 GiB does not fit: refused, nothing changed.
    await leaveFree(poolName, 100 - medium - 1);
    await refused("POST", `/v1/core/virtual-machines/${src}/resize`, { flavor_name: "n1-cpu-large" }, 409,
      new RegExp(`storage pool ${poolName} is full: ${100 - medium - 1} GiB free, ${100 - medium} GiB needed`));
    await roomy();

    await deleteVm(copyId);
    await deleteVm(src);
    expect(Object.fromEntries(Object.entries(await allocated()).map(([k, v]) => [k, v]))).toEqual(before);
  });

  it("a reinstall on a bigger image reserves what the disk grows by, or is refused; an ISO boot's blank disk counts at the flavor's disk", async () => {
    const before = await allocated();
    await db().insert(images).values([
      { name: "rd-big", path: "/images/rd-big.qcow2", sizeGib: 60, regionName: "" },
      { name: "rd-installer", path: "/images/rd-installer.iso", format: "iso", sizeGib: 3, bootable: true, regionName: "" },
    ]);
    const id = await created("rd-reinstall");
    const poolName = (await hostOf(id)) === "rd-a" ? POOL_A : POOL_B;
    const base = (await pool(poolName)).allocated_gib;
    await leaveFree(poolName, 60 - smallDisk - 1);
    await refused("POST", `/v1/core/virtual-machines/${id}/restore`, { image_name: "rd-big" }, 409,
      new RegExp(`storage pool ${poolName} is full: ${60 - smallDisk - 1} GiB free, ${60 - smallDisk} GiB needed`));
    await roomy();
    const r = await cloud.api("POST", `/v1/core/virtual-machines/${id}/restore`, { image_name: "rd-big" }, alice);
    expect(r.status, JSON.stringify(r.json)).toBe(200);
    await jobsIdle(cloud);
    expect((await vmRow(id)).rootDiskGib).toBe(60);
    expect((await pool(poolName)).allocated_gib).toBe(base + 60 - smallDisk);
    await deleteVm(id);

    const iso = await created("rd-iso", { image_name: "rd-installer" });
    expect((await vmRow(iso)).rootDiskGib).toBe(20);
    const isoPool = (await hostOf(iso)) === "rd-a" ? POOL_A : POOL_B;
    expect((await pool(isoPool)).allocated_gib).toBe(before[isoPool]![0] + 20);
    await deleteVm(iso);
    expect(await allocated()).toEqual(before);
  });

  it("a VM booting from a new bootable volume counts the volume, not a root disk as well", async () => {
    const total = async () => (await pools()).reduce((s, p) => s + p.allocated_gib, 0);
    const before = await total();
    const id = await created("rd-bv", { create_bootable_volume: true });
    expect(await vmRow(id)).toMatchObject({ rootDiskGib: null, rootDiskPoolId: null });
    expect(await total()).toBe(before + smallDisk);
    await deleteVm(id);
  });
});
