// VM snapshots count in the storage pool of the VM's root disk (manager/src/storage/snapshot-pool-use.ts),
// through the API, manager → gRPC → agent → simulator: a create reserves an estimate when it is
// accepted (shown in the admin pool view while the snapshot is Creating), settles to what the agent
// measured once made (capped at the pool's capacity when it measured more than is left), a delete
// and the VM's delete give it back, a failed create gives it back, and a full pool refuses the
// create with a 409 naming it and nothing changed.
import { asc, eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { CreateSnapshotOptions, SnapshotInfo } from "../../agent/src/drivers/hypervisor.js";
import { images, jobs, vms, vmSnapshots } from "../../manager/src/db/schema.js";
import { createUserKey, errorShapeProblems, jobsIdle, startTestCloud, stateDigest, type TestCloud } from "./harness.js";

const GIB = 1024 ** 3;
const POOL = "default-default-local";
/** n1-cpu-small's memory (4 GiB) + 1 GiB: what a running VM's snapshot reserves before it is made. */
const RUNNING_ESTIMATE = 5;

let cloud: TestCloud;
let alice: string;

const db = () => cloud.manager.database.db;
const sim = () => cloud.fleet.hypervisors[0]!;
const pool = async () => ((await cloud.api("GET", "/v1/admin/storage-pools")).json.storage_pools as Record<string, any>[]).find((p) => p.name === POOL)!;

beforeAll(async () => {
  cloud = await startTestCloud({ hosts: [{ hostname: "sp-a", uuid: "5b000000-0000-4000-8000-000000000001", cpus: 32, memoryMib: 131072 }], settings: { "vmsnapshot.create.wait": 1 } });
  await cloud.waitFor("host up", async () => (await cloud.api("GET", "/v1/admin/hosts")).json.hosts?.some((h: any) => h.state === "Up"));
  // With image files, VMs get a root disk of their own, counted in the cluster's pool (and the snapshots in it).
  for (const img of await db().select().from(images)) await db().update(images).set({ path: `/images/${img.id}.qcow2` }).where(eq(images.id, img.id));
  alice = await createUserKey(cloud, "sp-alice");
}, 120_000);
afterAll(async () => { await cloud?.stop(); });

/** Sets the pool's capacity to what it holds plus `free` GiB. */
async function leaveFree(free: number): Promise<void> {
  const p = await pool();
  const r = await cloud.api("PATCH", `/v1/admin/storage-pools/${p.id}`, { capacity_gib: p.allocated_gib + free });
  expect(r.status, JSON.stringify(r.json)).toBe(200);
}

async function createVm(name: string): Promise<{ id: number; uuid: string }> {
  const r = await cloud.api("POST", "/v1/core/virtual-machines", { name, environment_name: "default", flavor_name: "n1-cpu-small", image_name: "Debian 12" }, alice);
  expect(r.status, JSON.stringify(r.json)).toBe(200);
  await jobsIdle(cloud);
  const i = (await cloud.api("GET", `/v1/core/virtual-machines/${r.json.instances[0].id}`)).json.instance;
  expect(i.status).toBe("ACTIVE");
  return { id: i.id, uuid: i.uuid };
}

const postSnapshot = (vmId: number, name: string) => cloud.api("POST", `/v1/core/virtual-machines/${vmId}/snapshots`, { name, description: "", memory: true }, alice);
const jobOf = async (id: number) => (await db().select().from(jobs).where(eq(jobs.id, id)))[0]!;
const snapRow = async (id: number) => (await db().select().from(vmSnapshots).where(eq(vmSnapshots.id, id)))[0];

/**
 * Holds the simulator's next snapshot create until `release()`, and has it report `measured` (its
 * saved memory and the disks' growth) instead of its own figures: the estimate can be seen
 * reserved meanwhile, and the settle after.
 */
function holdNextCreate(measured: { sizeBytes: number; createdBytes: number }): { release: () => void; restore: () => void } {
  const s = sim();
  const original = s.createSnapshot.bind(s);
  let release!: () => void;
  const gate = new Promise<void>((r) => { release = r; });
  s.createSnapshot = async (uuid: string, o: CreateSnapshotOptions): Promise<SnapshotInfo> => {
    await gate;
    return { ...(await original(uuid, o)), ...measured };
  };
  return { release, restore: () => { s.createSnapshot = original; } };
}

/** The request is refused with that status and message, and neither the database (pools included) nor the snapshots changed. */
async function refused(method: string, path: string, body: unknown, status: number, message: RegExp) {
  await jobsIdle(cloud);
  const snaps = async () => JSON.stringify(await db().select().from(vmSnapshots).orderBy(asc(vmSnapshots.id)));
  const before = (await stateDigest(cloud)) + (await snaps());
  const r = await cloud.api(method, path, body, alice);
  expect(r.status, JSON.stringify(r.json)).toBe(status);
  expect(errorShapeProblems(r.status, r.json)).toEqual([]);
  expect(r.json.message).toMatch(message);
  await jobsIdle(cloud);
  expect((await stateDigest(cloud)) + (await snaps())).toBe(before);
  return r.json;
}

describe("VM snapshots in the storage pool", () => {
  let vm: { id: number; uuid: string };
  let base: number;

  beforeAll(async () => {
    await leaveFree(1000);
    vm = await createVm("sp-vm");
    base = (await pool()).allocated_gib;
  }, 60_000);

  it("a create reserves the estimate while the snapshot is made, then settles to what the agent measured", async () => {
    const hold = holdNextCreate({ sizeBytes: 2.5 * GIB, createdBytes: 2.5 * GIB + 1024 * 1024 });
    try {
      const r = await postSnapshot(vm.id, "sp-1");
      expect(r.status, JSON.stringify(r.json)).toBe(201);
      expect(await pool()).toMatchObject({ allocated_gib: base + RUNNING_ESTIMATE, snapshot_count: 1, snapshot_gib: RUNNING_ESTIMATE });
      expect(await snapRow(r.json.snapshot.id)).toMatchObject({ state: "Creating", poolGib: RUNNING_ESTIMATE });
      hold.release();
      await jobsIdle(cloud);
      // 2.5 GiB + 1 MiB grown: 3 GiB counted, 2 GiB of the estimate given back.
      expect((await jobOf(r.json.job_id)).result).toMatchObject({ snapshot_id: r.json.snapshot.id, created_bytes: 2.5 * GIB + 1024 * 1024, pool_gib: 3 });
      expect(await snapRow(r.json.snapshot.id)).toMatchObject({ state: "Ready", poolGib: 3 });
      expect(await pool()).toMatchObject({ allocated_gib: base + 3, snapshot_count: 1, snapshot_gib: 3 });
    } finally {
      hold.restore();
    }
  });

  it("a full pool refuses the create with a 409 naming it, and nothing changes", async () => {
    await leaveFree(RUNNING_ESTIMATE - 1);
    await refused("POST", `/v1/core/virtual-machines/${vm.id}/snapshots`, { name: "sp-full", description: "", memory: true }, 409,
      /^no room for the snapshot: storage pool default-default-local is full: 4 GiB free, 5 GiB needed$/);
    await leaveFree(1000);
  });

  it("a measure above what the pool has left is counted up to its capacity, never past it; the job says so", async () => {
    await leaveFree(RUNNING_ESTIMATE);
    const hold = holdNextCreate({ sizeBytes: 4 * GIB, createdBytes: 8 * GIB });
    try {
      const r = await postSnapshot(vm.id, "sp-big");
      expect(r.status, JSON.stringify(r.json)).toBe(201);
      hold.release();
      await jobsIdle(cloud);
      expect((await jobOf(r.json.job_id)).result).toMatchObject({ pool_gib: RUNNING_ESTIMATE, pool_full: "measured 8 GiB, counted 5 GiB: the storage pool is at capacity" });
      const p = await pool();
      expect(p.allocated_gib).toBe(p.capacity_gib);
      expect(p).toMatchObject({ free_gib: 0, snapshot_count: 2, snapshot_gib: 3 + RUNNING_ESTIMATE });
      // Deleted: its GiB go back.
      const d = await cloud.api("DELETE", `/v1/core/snapshots/${r.json.snapshot.id}`, undefined, alice);
      expect(d.status, JSON.stringify(d.json)).toBe(200);
      await jobsIdle(cloud);
      expect(await pool()).toMatchObject({ allocated_gib: base + 3, snapshot_count: 1, snapshot_gib: 3 });
    } finally {
      hold.restore();
    }
    await leaveFree(1000);
  });

  it("a create that fails gives its reservation back", async () => {
    sim().snapshotDelayMs = 1500; // past vmsnapshot.create.wait (1 s): the agent aborts it
    try {
      const r = await postSnapshot(vm.id, "sp-slow");
      expect(r.status, JSON.stringify(r.json)).toBe(201);
      expect((await pool()).allocated_gib).toBe(base + 3 + RUNNING_ESTIMATE);
      await jobsIdle(cloud);
      expect((await jobOf(r.json.job_id)).status).toBe("failed");
      expect(await snapRow(r.json.snapshot.id)).toMatchObject({ state: "Error", poolId: null, poolGib: 0 });
      expect(await pool()).toMatchObject({ allocated_gib: base + 3, snapshot_count: 1, snapshot_gib: 3 });
      const d = await cloud.api("DELETE", `/v1/core/snapshots/${r.json.snapshot.id}`, undefined, alice);
      expect(d.status, JSON.stringify(d.json)).toBe(200);
      await jobsIdle(cloud);
      expect((await pool()).allocated_gib).toBe(base + 3);
    } finally {
      sim().snapshotDelayMs = 0;
    }
  });

  it("the simulator's own measure of a running VM: its memory and 1 MiB a disk; the VM's delete gives every snapshot back", async () => {
    const r = await postSnapshot(vm.id, "sp-plain");
    expect(r.status, JSON.stringify(r.json)).toBe(201);
    await jobsIdle(cloud);
    // 4 GiB of memory + 1 MiB: 5 GiB.
    expect((await jobOf(r.json.job_id)).result).toMatchObject({ size_bytes: 4 * GIB + 1024 * 1024, created_bytes: 4 * GIB + 1024 * 1024, pool_gib: 5 });
    expect(await pool()).toMatchObject({ allocated_gib: base + 3 + 5, snapshot_count: 2, snapshot_gib: 8 });
    const [row] = await db().select({ rootDiskGib: vms.rootDiskGib }).from(vms).where(eq(vms.id, vm.id));
    expect(row!.rootDiskGib).toBeGreaterThan(0);
    const d = await cloud.api("DELETE", `/v1/core/virtual-machines/${vm.id}`, undefined, alice);
    expect(d.status, JSON.stringify(d.json)).toBe(200);
    await jobsIdle(cloud);
    expect(await db().select().from(vmSnapshots).where(eq(vmSnapshots.vmId, vm.id))).toEqual([]);
    // Its root disk goes too: the pool holds nothing of the VM.
    expect(await pool()).toMatchObject({ allocated_gib: base - row!.rootDiskGib!, snapshot_count: 0, snapshot_gib: 0, root_disk_count: 0 });
  });
});
