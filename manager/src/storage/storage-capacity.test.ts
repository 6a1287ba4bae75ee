// Storage pool capacity as the services keep it: a create reserves its size in one conditional
// UPDATE (so concurrent creates never take a pool past its capacity), a delete gives it back, a
// create that fits no pool is refused naming the pool and its numbers with nothing written.
import { eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openTestDatabase, type Database } from "../db/database.js";
import { accounts, storagePools, volumes } from "../db/schema.js";
import { HostService } from "../hosts/host-service.js";
import { DEFAULT_LOCAL_POOL_CAPACITY_GIB, StoragePoolService } from "./storage-pool-service.js";
import { VolumeService } from "./volume-service.js";

let database: Database;
let pools: StoragePoolService;
let vols: VolumeService;
let alice: number;
let clusterId: number;

beforeAll(async () => {
  database = await openTestDatabase();
  pools = new StoragePoolService(database.db);
  vols = new VolumeService(database.db, { enqueue: () => {} }, () => ({ allowPrivateAddresses: true }));
  const [a] = await database.db.insert(accounts).values([{ name: "alice" }]).returning();
  alice = a!.id;
  clusterId = await new HostService(database.db, () => 0).ensureCluster("STORAGE-1", "c1");
}, 60_000);
afterAll(async () => { await database?.close(); });

const pool = async (id: number) => (await database.db.select().from(storagePools).where(eq(storagePools.id, id)))[0]!;
const volumeCount = async () => (await database.db.select().from(volumes)).length;
const create = (name: string, size: number, volumeType = "shared") =>
  vols.create({ accountId: alice }, { name, environmentName: "STORAGE-1", sizeGib: size, volumeType });

describe("storage pool capacity", () => {
  it("seeds one local pool for a new cluster, once", async () => {
    await new HostService(database.db, () => 0).ensureCluster("STORAGE-1", "c1");
    const local = (await pools.list()).filter((p) => p.clusterId === clusterId);
    expect(local).toEqual([expect.objectContaining({ kind: "local", path: "volumes", capacityGib: DEFAULT_LOCAL_POOL_CAPACITY_GIB, allocatedGib: 0, region: "STORAGE-1" })]);
  });

  it("reserves a volume's size, refuses one that does not fit with the pool's numbers, and changes nothing then", async () => {
    const p = await pools.create({ name: "nfs-small", clusterId, kind: "shared", path: "/mnt/nfs", capacityGib: 10 });
    const v = await create("a", 6);
    expect(v).toMatchObject({ sizeGib: 6, status: "available", pool: { id: p.id, kind: "shared" } });
    expect(v.path).toBe(`/mnt/nfs/${v.uuid}.qcow2`);
    expect((await pool(p.id)).allocatedGib).toBe(6);
    const before = await volumeCount();
    const refused = await create("b", 5).catch((e: unknown) => e);
    expect(refused).toMatchObject({ code: "conflict", details: { state: "storage_pool_full", pools: [{ name: "nfs-small", capacity_gib: 10, allocated_gib: 6 }] } });
    expect((refused as Error).message).toContain("storage pool nfs-small has 4 GiB free (capacity 10 GiB, allocated 6 GiB)");
    expect((refused as Error).message).toContain("a 5 GiB volume does not fit");
    expect((await pool(p.id)).allocatedGib).toBe(6);
    expect(await volumeCount()).toBe(before);
    // A delete gives the size back.
    await vols.delete({ accountId: alice }, v.id);
    expect((await pool(p.id)).allocatedGib).toBe(0);
    await expect(vols.get({ accountId: alice }, v.id)).rejects.toMatchObject({ code: "not_found" });
  });

  it("never overshoots a pool under concurrent creates", async () => {
    const p = await pools.create({ name: "nfs-race", clusterId, kind: "shared", path: "/mnt/race", capacityGib: 10 });
    // The earlier shared pool is empty again (capacity 10): both share the load, neither overshoots.
    const results = await Promise.allSettled(Array.from({ length: 12 }, (_, i) => create(`race-${i}`, 3)));
    const ok = results.filter((r) => r.status === "fulfilled").length;
    const refused = results.filter((r) => r.status === "rejected");
    expect(ok).toBe(6); // 3 per pool of 10 GiB
    for (const r of refused) expect((r as PromiseRejectedResult).reason).toMatchObject({ code: "conflict", details: { state: "storage_pool_full" } });
    const after = await pools.list();
    for (const q of after.filter((x) => x.kind === "shared")) {
      expect(q.allocatedGib).toBeLessThanOrEqual(q.capacityGib);
      expect(q.allocatedGib).toBe(3 * q.volumeCount);
    }
    expect((await pool(p.id)).allocatedGib).toBe(9);
  });

  it("refuses a capacity below what a pool holds and deleting a pool that holds volumes", async () => {
    const [p] = (await pools.list()).filter((x) => x.name === "nfs-race");
    await expect(pools.change(p!.id, { capacityGib: 8 })).rejects.toMatchObject({ code: "conflict" });
    expect((await pool(p!.id)).capacityGib).toBe(10);
    expect(await pools.change(p!.id, { capacityGib: 9 })).toMatchObject({ capacityGib: 9, allocatedGib: 9 });
    await expect(pools.delete(p!.id)).rejects.toMatchObject({ code: "conflict" });
    const empty = await pools.create({ name: "unused", clusterId, kind: "shared", path: "/mnt/u", capacityGib: 1 });
    await pools.delete(empty.id);
    await expect(pools.get(empty.id)).rejects.toMatchObject({ code: "not_found" });
  });

  it("refuses an unknown volume type and a type with no pool in the region", async () => {
    await expect(create("t", 1, "fast")).rejects.toMatchObject({ code: "invalid_argument", details: { field: "volume_type" } });
    await new HostService(database.db, () => 0).ensureCluster("EMPTY-1", "c1");
    await expect(vols.create({ accountId: alice }, { name: "t", environmentName: "EMPTY-1", sizeGib: 1, volumeType: "shared" }))
      .rejects.toMatchObject({ code: "invalid_argument", message: expect.stringContaining("region EMPTY-1 has no storage pool of volume type shared") });
  });
});
