// Root disks in storage pools at the placement commit: reserved in the host's cluster's first
// local pool by the commit's own statement (group commits included), a batch that does not fit
// refused whole with nothing written, concurrent placements never past capacity, released once
// with the VM's capacity, grown by a stopped resize, and counted for existing VMs by the migration.
// PostgreSQL when TEST_DATABASE_URL is set, else PGlite.
import { readFileSync } from "node:fs";
import { randomUUID } from "node:crypto";
import { eq, sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildPolicy, policyConfigFromSettings, type PlacementPlan, type PlacementRequest } from "../allocator/index.js";
import { openTestDatabase, type Database } from "../db/database.js";
import { hosts, storagePools, vms } from "../db/schema.js";
import { prepareRows, writeRows, type CommitRows } from "../placement/commit-rows.js";
import { PlacementService } from "../placement/placement-service.js";
import { seedFleet, sqlRows, type FixtureIds } from "../placement/testing/placement-fixture.js";
import { transitionVm } from "../vm/vm-transitions.js";
import { growRootDiskForFlavor } from "./root-disks.js";
import { StoragePoolService } from "./storage-pool-service.js";

let database: Database;
let ids: FixtureIds;
let c2: number;
const pool: Record<string, number> = {};

const policy = buildPolicy(policyConfigFromSettings({ "vm.allocation.mode": "horizontal" }));

beforeAll(async () => {
  database = await openTestDatabase();
  ids = await seedFleet(database.db, { hosts: 4, cpus: 64, memoryMib: 262144, reserveMib: 2048, gpuHosts: ["h1"], gpusPerHost: 1 });
  const db = database.db;
  const [c] = await sqlRows<{ id: number }>(db, sql`select id from clusters where name = 'c'`);
  const [c2row] = await sqlRows<{ id: number }>(db, sql`insert into clusters(name, region_id) select 'c2', region_id from clusters where name = 'c' returning id`);
  c2 = c2row!.id;
  await db.update(hosts).set({ clusterId: c2 }).where(sql`${hosts.name} in ('h3', 'h4')`);
  // Cluster c's shared pool comes first by id: the root disks still go to its local one.
  for (const [name, clusterId, kind] of [["c-nfs", c!.id, "shared"], ["c-local", c!.id, "local"], ["c2-local", c2, "local"]] as const) {
    const [p] = await db.insert(storagePools).values({ name, clusterId, kind, path: "volumes", capacityGib: 1000 }).returning();
    pool[name] = p!.id;
  }
}, 60_000);
afterAll(async () => { await database?.close(); });

const poolRow = async (name: string) => (await database.db.select().from(storagePools).where(eq(storagePools.id, pool[name]!)))[0]!;
const vmRow = async (id: number) => (await database.db.select().from(vms).where(eq(vms.id, id)))[0]!;
async function leaveFree(name: string, free: number): Promise<void> {
  const p = await poolRow(name);
  await database.db.update(storagePools).set({ capacityGib: p.allocatedGib + free }).where(eq(storagePools.id, p.id));
}
async function totals() {
  const [t] = await sqlRows<{ vms: string; allocs: string; jobs: string }>(database.db, sql`
    select (select count(*) from vms) as vms, (select count(*) from allocations) as allocs, (select count(*) from jobs) as jobs`);
  return { vms: Number(t!.vms), allocs: Number(t!.allocs), jobs: Number(t!.jobs) };
}

function rows(tag: string, rootDiskGib: number | null, uuids = [randomUUID()]): CommitRows {
  return {
    vm: (p) => ({
      uuid: uuids[p.index]!, name: `${tag}-${p.index}`, accountId: ids.accountId, environmentId: ids.envId,
      flavorId: ids.flavorId, imageId: ids.imageId, rootDiskGib,
    }),
    jobKind: "vm.deploy",
  };
}
const request = (extra: Partial<PlacementRequest> = {}): PlacementRequest => ({ accountId: String(ids.accountId), environment: "env", vcpus: 1, memoryMib: 1024, ...extra });

describe("root disks at the placement commit", () => {
  it("reserves each root disk in its host's cluster's first local pool and records the pool on the VM; a volume-booted VM reserves none", async () => {
    const svc = new PlacementService({ db: database.db, policy: () => policy });
    const [h1] = await database.db.select().from(hosts).where(eq(hosts.name, "h1"));
    const before = await poolRow("c-local");
    const done = await svc.placeAndCommit(request({ hostId: String(h1!.id) }), rows("one", 10));
    expect(await vmRow(done.vms[0]!.id)).toMatchObject({ rootDiskPoolId: pool["c-local"], rootDiskGib: 10 });
    expect((await poolRow("c-local")).allocatedGib).toBe(before.allocatedGib + 10);
    expect((await poolRow("c-nfs")).allocatedGib).toBe(0);
    const none = await svc.placeAndCommit(request({ hostId: String(h1!.id) }), rows("bv", null));
    expect(await vmRow(none.vms[0]!.id)).toMatchObject({ rootDiskPoolId: null, rootDiskGib: null });
    expect((await poolRow("c-local")).allocatedGib).toBe(before.allocatedGib + 10);
  });

  it("a statement whose root disks do not fit a pool writes nothing and names the pool with its numbers", async () => {
    const [h3] = await database.db.select().from(hosts).where(eq(hosts.name, "h3"));
    await leaveFree("c2-local", 15);
    const p = await poolRow("c2-local");
    const plan = {
      placements: [0, 1].map((index) => ({ index, hostId: String(h3!.id), hostName: "h3", vcpus: 1, memoryMib: 1024, gpus: [], scores: [], total: 0 })),
    } as unknown as PlacementPlan;
    const before = await totals();
    const outcome = await writeRows(database.db, {
      hosts: [{ id: h3!.id, generation: h3!.generation }], token: 424242, requests: [prepareRows(rows("two", 10, [randomUUID(), randomUUID()]), plan)],
    });
    expect(outcome).toEqual({
      refused: "storage-pool",
      pools: [{ id: p.id, name: "c2-local", clusterId: c2, capacityGib: p.capacityGib, allocatedGib: p.allocatedGib, neededGib: 20 }],
    });
    expect(await totals()).toEqual(before);
    expect(await poolRow("c2-local")).toEqual(p);
    expect((await database.db.select().from(hosts).where(eq(hosts.id, h3!.id)))[0]!.generation).toBe(h3!.generation);
    await leaveFree("c2-local", 1000);
  });

  it("concurrent placements (group commits) never take a pool past its capacity; the refused ones get a 409 naming it", async () => {
    const svc = new PlacementService({ db: database.db, policy: () => policy, maxBatch: 16 });
    await leaveFree("c2-local", 45);
    const base = await poolRow("c2-local");
    const before = await totals();
    const outcomes = await Promise.allSettled(Array.from({ length: 10 }, (_, k) =>
      svc.placeAndCommit(request({ cluster: String(c2) }), rows(`race-${k}`, 10))));
    const ok = outcomes.filter((o) => o.status === "fulfilled");
    expect(ok).toHaveLength(4);
    // They were placed as one group commit, which the full pool refused whole (then one by one).
    expect(svc.stats.batchesRedone).toBeGreaterThan(0);
    for (const o of outcomes.filter((x) => x.status === "rejected")) {
      expect((o as PromiseRejectedResult).reason).toMatchObject({
        code: "conflict", message: expect.stringMatching(/storage pool c2-local is full: 5 GiB free, 10 GiB needed/),
        details: { state: "storage_pool_full", pools: [expect.objectContaining({ name: "c2-local", needed_gib: 10 })] },
      });
    }
    const after = await poolRow("c2-local");
    expect(after.allocatedGib).toBe(base.allocatedGib + 40);
    expect(after.allocatedGib).toBeLessThanOrEqual(after.capacityGib);
    expect(await totals()).toEqual({ vms: before.vms + 4, allocs: before.allocs + 4, jobs: before.jobs + 4 });
    await leaveFree("c2-local", 1000);
  }, 60_000);

  it("a pool without room sends the VM to another cluster whose pool has room", async () => {
    const svc = new PlacementService({ db: database.db, policy: () => policy, groupCommit: false });
    await leaveFree("c-local", 5);
    for (let i = 0; i < 3; i++) {
      const done = await svc.placeAndCommit(request(), rows(`elsewhere-${i}`, 10));
      expect(await vmRow(done.vms[0]!.id)).toMatchObject({ rootDiskPoolId: pool["c2-local"] });
    }
    await leaveFree("c-local", 1000);
  });
});

describe("root disks after the placement", () => {
  async function placed(tag: string, gib: number): Promise<number> {
    const svc = new PlacementService({ db: database.db, policy: () => policy, groupCommit: false });
    return (await svc.placeAndCommit(request({ cluster: String(c2) }), rows(tag, gib))).vms[0]!.id;
  }

  it("released once with the VM's capacity: a refused deploy (Error) or a destroy; kept while the host's side is unknown", async () => {
    const base = (await poolRow("c2-local")).allocatedGib;
    const refused = await placed("refused", 10);
    const unknown = await placed("unknown", 10);
    expect((await poolRow("c2-local")).allocatedGib).toBe(base + 20);
    await database.db.transaction((tx) => transitionVm(tx, refused, "Error", "deploy refused"));
    expect((await vmRow(refused)).rootDiskPoolId).toBeNull();
    expect((await poolRow("c2-local")).allocatedGib).toBe(base + 10);
    await database.db.transaction((tx) => transitionVm(tx, unknown, "Error", "host silent", { keepCapacity: true }));
    expect((await poolRow("c2-local")).allocatedGib).toBe(base + 10);
    for (const id of [refused, unknown]) {
      await database.db.transaction(async (tx) => {
        await transitionVm(tx, id, "Destroying", "delete");
        await transitionVm(tx, id, "Destroyed", "deleted");
      });
    }
    expect((await poolRow("c2-local")).allocatedGib).toBe(base);
    expect((await vmRow(unknown)).rootDiskPoolId).toBeNull();
  });

  it("a stopped resize reserves what the disk grows by, or is refused naming the pool with nothing changed", async () => {
    const id = await placed("resize", 10);
    const base = (await poolRow("c2-local")).allocatedGib;
    await database.db.transaction((tx) => growRootDiskForFlavor(tx, id, { diskGib: 30 }));
    expect((await vmRow(id)).rootDiskGib).toBe(30);
    expect((await poolRow("c2-local")).allocatedGib).toBe(base + 20);
    // Smaller: a disk never shrinks.
    await database.db.transaction((tx) => growRootDiskForFlavor(tx, id, { diskGib: 5 }));
    expect((await vmRow(id)).rootDiskGib).toBe(30);
    await leaveFree("c2-local", 9);
    const before = await poolRow("c2-local");
    await expect(database.db.transaction((tx) => growRootDiskForFlavor(tx, id, { diskGib: 40 }))).rejects.toMatchObject({
      code: "conflict", message: expect.stringContaining("storage pool c2-local is full: 9 GiB free, 10 GiB needed"),
    });
    expect(await poolRow("c2-local")).toEqual(before);
    expect((await vmRow(id)).rootDiskGib).toBe(30);
    await leaveFree("c2-local", 1000);
  });

  it("the admin view counts a pool's root disks, and a pool holding some cannot be deleted", async () => {
    const pools = new StoragePoolService(database.db);
    const [{ n }] = await sqlRows<{ n: string }>(database.db, sql`select count(*) as n from vms where root_disk_pool_id = ${pool["c2-local"]!}`) as [{ n: string }];
    expect(Number(n)).toBeGreaterThan(0);
    expect(await pools.get(pool["c2-local"]!)).toMatchObject({ rootDiskCount: Number(n), volumeCount: 0 });
    const before = await poolRow("c2-local");
    await expect(pools.delete(pool["c2-local"]!)).rejects.toMatchObject({
      code: "conflict", message: `storage pool c2-local holds the root disks of ${n} virtual machine(s): delete them first`,
    });
    expect(await poolRow("c2-local")).toEqual(before);
  });

  it("the migration counts existing VMs' root disks into their pools", async () => {
    await placed("existing", 10);
    // As before the migration: nothing recorded on any VM, nothing counted in any pool (this
    // database has no volumes); the flavor says 25 GiB.
    await database.db.update(vms).set({ rootDiskPoolId: null, rootDiskGib: null });
    await database.db.update(storagePools).set({ allocatedGib: 0 });
    await database.db.execute(sql`update flavors set disk_gib = 25 where id = ${ids.flavorId}`);
    const file = readFileSync(new URL("../../drizzle/0028_root_disk_pool.sql", import.meta.url), "utf8");
    const data = file.split("--> statement-breakpoint").filter((s) => /^\s*(--[^\n]*\n\s*)*UPDATE/.test(s));
    expect(data).toHaveLength(2);
    for (const statement of data) await database.db.execute(sql.raw(statement));
    // Every live VM holding capacity is counted at its flavor's disk in its cluster's local pool; the others are not.
    const all = await sqlRows<{ id: number; cluster: string; pool: number | null; gib: number | null; holds: boolean }>(database.db, sql`
      select v.id, c.name as cluster, v.root_disk_pool_id as pool, v.root_disk_gib as gib,
             (v.deleted_at is null and exists (select 1 from allocations a where a.vm_id = v.id)) as holds
      from vms v join hosts h on h.id = v.host_id join clusters c on c.id = h.cluster_id`);
    expect(all.filter((v) => v.holds).length).toBeGreaterThan(5);
    for (const v of all) {
      expect([v.id, v.pool, v.gib]).toEqual(v.holds ? [v.id, pool[`${v.cluster}-local`], 25] : [v.id, null, null]);
    }
    for (const cluster of ["c", "c2"]) {
      expect((await poolRow(`${cluster}-local`)).allocatedGib).toBe(25 * all.filter((v) => v.holds && v.cluster === cluster).length);
    }
    expect((await poolRow("c-nfs")).allocatedGib).toBe(0);
    await database.db.execute(sql`update flavors set disk_gib = 0 where id = ${ids.flavorId}`);
  });
});
