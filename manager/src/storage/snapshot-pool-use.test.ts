// A VM snapshot's disk use in its storage pool: the estimate reserved by a conditional UPDATE (a
// full pool refuses it with nothing changed, concurrent ones never pass capacity), settled to the
// measure (never past capacity), released once (deleted, failed create, VM destroyed), and the
// pool found from the root disk or the boot volume. PostgreSQL when TEST_DATABASE_URL is set, else PGlite.
import { readFileSync } from "node:fs";
import { randomUUID } from "node:crypto";
import { eq, sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openTestDatabase, type Database } from "../db/database.js";
import { storagePools, vms, vmSnapshots, volumes } from "../db/schema.js";
import type { JobRow } from "../jobs/job-runner.js";
import { onSnapshotJobFailed } from "../jobs/vm-snapshot.job.js";
import { seedBasics, sqlRows, type FixtureIds } from "../placement/testing/placement-fixture.js";
import { forgetVmSnapshots } from "../vm/vm-snapshots.js";
import { StoragePoolService } from "./storage-pool-service.js";
import {
  measuredSnapshotGib, releaseSnapshotUse, reserveSnapshotUse, settleSnapshotUse, snapshotEstimateGib, snapshotPoolOf,
} from "./snapshot-pool-use.js";

const GIB = 1024 ** 3;
let database: Database;
let ids: FixtureIds;
let poolId: number;
let otherPoolId: number;

beforeAll(async () => {
  database = await openTestDatabase();
  ids = await seedBasics(database.db);
  const [c] = await sqlRows<{ id: number }>(database.db, sql`select id from clusters where name = 'c'`);
  const [p] = await database.db.insert(storagePools).values({ name: "snap-local", clusterId: c!.id, kind: "local", path: "volumes", capacityGib: 100 }).returning();
  const [q] = await database.db.insert(storagePools).values({ name: "snap-nfs", clusterId: c!.id, kind: "shared", path: "/nfs", capacityGib: 100 }).returning();
  poolId = p!.id;
  otherPoolId = q!.id;
}, 60_000);
afterAll(async () => { await database?.close(); });

const pool = async (id = poolId) => (await database.db.select().from(storagePools).where(eq(storagePools.id, id)))[0]!;
const snapRow = async (id: number) => (await database.db.select().from(vmSnapshots).where(eq(vmSnapshots.id, id)))[0]!;
async function setPool(allocatedGib: number, capacityGib = 100, id = poolId): Promise<void> {
  await database.db.update(storagePools).set({ allocatedGib, capacityGib }).where(eq(storagePools.id, id));
}
async function vm(over: Partial<typeof vms.$inferInsert> = {}): Promise<number> {
  const [row] = await database.db.insert(vms).values({
    uuid: randomUUID(), name: `vm-${randomUUID().slice(0, 8)}`, accountId: ids.accountId, environmentId: ids.envId, flavorId: ids.flavorId, imageId: ids.imageId,
    state: "Running", vcpus: 1, memoryMib: 2048, rootDiskPoolId: poolId, rootDiskGib: 10, ...over,
  }).returning({ id: vms.id });
  return row!.id;
}
async function snapshot(vmId: number): Promise<number> {
  const [row] = await database.db.insert(vmSnapshots).values({
    vmId, accountId: ids.accountId, name: `s-${randomUUID().slice(0, 8)}`, memory: true, state: "Creating", hostName: `orbit-${randomUUID()}`,
  }).returning({ id: vmSnapshots.id });
  return row!.id;
}

describe("snapshot estimates and measures", () => {
  it("a running VM's snapshot reserves its memory (rounded up to GiB) and 1 GiB; a stopped one's 1 GiB", () => {
    expect(snapshotEstimateGib({ running: true, memoryMib: 2048 })).toBe(3);
    expect(snapshotEstimateGib({ running: true, memoryMib: 1500 })).toBe(3);
    expect(snapshotEstimateGib({ running: false, memoryMib: 65536 })).toBe(1);
  });

  it("a measure counts the disks' growth, never less than the saved memory, rounded up to GiB", () => {
    expect(measuredSnapshotGib({ createdBytes: 2 * GIB + 1, sizeBytes: 2 * GIB })).toBe(3);
    expect(measuredSnapshotGib({ createdBytes: 0, sizeBytes: GIB })).toBe(1);
    expect(measuredSnapshotGib({ createdBytes: 300 * 1024, sizeBytes: 0 })).toBe(1);
    expect(measuredSnapshotGib({ createdBytes: 0, sizeBytes: 0 })).toBe(0);
  });
});

describe("snapshot use in the storage pool", () => {
  it("reserves in the root disk's pool and records it on the snapshot; settles down and up to the measure; releases once", async () => {
    await setPool(10);
    const v = await vm();
    const s = await snapshot(v);
    await database.db.transaction((tx) => reserveSnapshotUse(tx, s, v, 3));
    expect((await pool()).allocatedGib).toBe(13);
    expect(await snapRow(s)).toMatchObject({ poolId, poolGib: 3 });
    expect(await settleSnapshotUse(database.db, s, 2)).toEqual({ countedGib: 2, measuredGib: 2 });
    expect((await pool()).allocatedGib).toBe(12);
    expect(await settleSnapshotUse(database.db, s, 5)).toEqual({ countedGib: 5, measuredGib: 5 });
    expect((await pool()).allocatedGib).toBe(15);
    await releaseSnapshotUse(database.db, s);
    await releaseSnapshotUse(database.db, s);
    expect((await pool()).allocatedGib).toBe(10);
    expect(await snapRow(s)).toMatchObject({ poolId: null, poolGib: 0 });
    // Released: a settle has nothing to count against.
    expect(await settleSnapshotUse(database.db, s, 4)).toBeNull();
    expect((await pool()).allocatedGib).toBe(10);
  });

  it("a full pool refuses the reservation naming it with its numbers, and nothing changes", async () => {
    await setPool(98);
    const v = await vm();
    const s = await snapshot(v);
    const before = await pool();
    await expect(database.db.transaction((tx) => reserveSnapshotUse(tx, s, v, 3))).rejects.toMatchObject({
      code: "conflict", message: "no room for the snapshot: storage pool snap-local is full: 2 GiB free, 3 GiB needed",
      details: { state: "storage_pool_full", pools: [{ name: "snap-local", capacity_gib: 100, allocated_gib: 98, needed_gib: 3 }] },
    });
    expect(await pool()).toEqual(before);
    expect(await snapRow(s)).toMatchObject({ poolId: null, poolGib: 0 });
  });

  it("a measure above the estimate that no longer fits is counted up to the capacity, never past it", async () => {
    await setPool(50);
    const v = await vm();
    const s = await snapshot(v);
    await database.db.transaction((tx) => reserveSnapshotUse(tx, s, v, 3));
    await setPool(98); // others took all but 2 GiB meanwhile
    expect(await settleSnapshotUse(database.db, s, 9)).toEqual({ countedGib: 5, measuredGib: 9 });
    expect(await pool()).toMatchObject({ allocatedGib: 100, capacityGib: 100 });
    await releaseSnapshotUse(database.db, s);
    expect((await pool()).allocatedGib).toBe(95);
  });

  it("concurrent reservations never take the pool past its capacity", async () => {
    await setPool(55);
    const v = await vm();
    const snaps = await Promise.all(Array.from({ length: 8 }, () => snapshot(v)));
    const out = await Promise.allSettled(snaps.map((s) => database.db.transaction((tx) => reserveSnapshotUse(tx, s, v, 10))));
    expect(out.filter((o) => o.status === "fulfilled")).toHaveLength(4);
    expect((await pool()).allocatedGib).toBe(95);
    // The VM destroyed: every snapshot's count goes back with its rows.
    await database.db.transaction((tx) => forgetVmSnapshots(tx, v));
    expect((await pool()).allocatedGib).toBe(55);
    expect(await database.db.select().from(vmSnapshots).where(eq(vmSnapshots.vmId, v))).toEqual([]);
  });

  it("a VM booting from a volume counts in the volume's pool; one with no pool counts nowhere", async () => {
    await setPool(0, 100, otherPoolId);
    const [bv] = await database.db.insert(volumes).values({
      uuid: randomUUID(), name: `bv-${randomUUID().slice(0, 8)}`, accountId: ids.accountId, environmentId: ids.envId, poolId: otherPoolId, sizeGib: 20, path: "volumes/bv.qcow2",
    }).returning({ id: volumes.id });
    const booted = await vm({ rootDiskPoolId: null, rootDiskGib: null, bootVolumeId: bv!.id });
    const none = await vm({ rootDiskPoolId: null, rootDiskGib: null });
    expect(await database.db.transaction((tx) => snapshotPoolOf(tx, booted))).toEqual({ id: otherPoolId, name: "snap-nfs" });
    expect(await database.db.transaction((tx) => snapshotPoolOf(tx, none))).toBeNull();
    const s = await snapshot(booted);
    await database.db.transaction((tx) => reserveSnapshotUse(tx, s, booted, 1));
    expect((await pool(otherPoolId)).allocatedGib).toBe(1);
    const n = await snapshot(none);
    await database.db.transaction((tx) => reserveSnapshotUse(tx, n, none, 1));
    expect(await snapRow(n)).toMatchObject({ poolId: null, poolGib: 0 });
  });

  it("a failed create gives its reservation back; a failed delete keeps it (the snapshot may still be on the host)", async () => {
    await setPool(0);
    const v = await vm();
    const created = await snapshot(v);
    const deleting = await snapshot(v);
    await database.db.transaction(async (tx) => { await reserveSnapshotUse(tx, created, v, 3); await reserveSnapshotUse(tx, deleting, v, 2); });
    const job = (kind: string, id: number) => ({ kind, vmId: v, input: { snapshot_id: id } }) as unknown as JobRow;
    await onSnapshotJobFailed(database.db, job("vm.snapshot.create", created), { message: "boom" });
    await onSnapshotJobFailed(database.db, job("vm.snapshot.delete", deleting), { message: "boom" });
    expect(await snapRow(created)).toMatchObject({ state: "Error", poolId: null, poolGib: 0 });
    expect(await snapRow(deleting)).toMatchObject({ state: "Error", poolId, poolGib: 2 });
    expect((await pool()).allocatedGib).toBe(2);
  });

  it("the migration counts the snapshots that exist into their VMs' pools", async () => {
    // As before the migration: no snapshot counted anywhere.
    await database.db.delete(vmSnapshots);
    await setPool(0);
    await setPool(0, 100, otherPoolId);
    const v = await vm({ memoryMib: 3000 });
    const [bv] = await database.db.insert(volumes).values({
      uuid: randomUUID(), name: `bv-${randomUUID().slice(0, 8)}`, accountId: ids.accountId, environmentId: ids.envId, poolId: otherPoolId, sizeGib: 20, path: "volumes/bv2.qcow2",
    }).returning({ id: volumes.id });
    const booted = await vm({ rootDiskPoolId: null, rootDiskGib: null, bootVolumeId: bv!.id });
    const gone = await vm({ state: "Destroyed", deletedAt: new Date() });
    const add = async (vmId: number, state: string, sizeBytes: number | null, error = "") => {
      const id = await snapshot(vmId);
      await database.db.update(vmSnapshots).set({ state: state as "Ready", sizeBytes, error }).where(eq(vmSnapshots.id, id));
      return id;
    };
    const ready = await add(v, "Ready", Math.round(2.2 * GIB));
    const diskOnly = await add(v, "Ready", 0);
    const creating = await add(v, "Creating", null);
    const failedCreate = await add(v, "Error", null, "vm.snapshot.create failed: boom");
    const failedDelete = await add(v, "Error", 0, "vm.snapshot.delete failed: boom");
    const onVolume = await add(booted, "Ready", GIB);
    const ofGone = await add(gone, "Ready", GIB);
    const file = readFileSync(new URL("../../drizzle/0033_snapshot_pool_use.sql", import.meta.url), "utf8");
    const data = file.split("--> statement-breakpoint").filter((st) => /^\s*(--[^\n]*\n\s*)*UPDATE/.test(st));
    expect(data).toHaveLength(3);
    for (const statement of data) await database.db.execute(sql.raw(statement));
    const counted = async (id: number) => { const r = await snapRow(id); return [r.poolId, r.poolGib]; };
    expect(await counted(ready)).toEqual([poolId, 3]);
    expect(await counted(diskOnly)).toEqual([poolId, 1]);
    expect(await counted(creating)).toEqual([poolId, 1 + 3]);
    expect(await counted(failedCreate)).toEqual([null, 0]);
    expect(await counted(failedDelete)).toEqual([poolId, 1]);
    expect(await counted(onVolume)).toEqual([otherPoolId, 1]);
    expect(await counted(ofGone)).toEqual([null, 0]);
    expect((await pool()).allocatedGib).toBe(3 + 1 + 4 + 1);
    expect((await pool(otherPoolId)).allocatedGib).toBe(1);
  });

  it("a pool holding snapshots is not deleted (409), and shows them in its view", async () => {
    const [c] = await sqlRows<{ id: number }>(database.db, sql`select id from clusters where name = 'c'`);
    const [p] = await database.db.insert(storagePools).values({ name: "snap-only", clusterId: c!.id, kind: "shared", path: "/x", capacityGib: 10 }).returning();
    const v = await vm({ rootDiskPoolId: null, rootDiskGib: null });
    const s = await snapshot(v);
    await database.db.update(vmSnapshots).set({ poolId: p!.id, poolGib: 2 }).where(eq(vmSnapshots.id, s));
    const svc = new StoragePoolService(database.db);
    expect(await svc.get(p!.id)).toMatchObject({ snapshotCount: 1, snapshotGib: 2, rootDiskCount: 0, volumeCount: 0 });
    await expect(svc.delete(p!.id)).rejects.toMatchObject({ code: "conflict", message: "storage pool snap-only holds 1 VM snapshot(s): delete them first" });
    await releaseSnapshotUse(database.db, s);
    await svc.delete(p!.id);
  });
});
