// A running migration's reservation on its destination is honoured by placements that run
// meanwhile, through the same path as any capacity change: the reservation bumps the host's
// generation, so a placement placed on a cached snapshot is refused at its commit and placed
// again on a fresh snapshot, which counts the reservation. PostgreSQL when TEST_DATABASE_URL is
// set, else PGlite.
import { randomUUID } from "node:crypto";
import { eq, sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { InsufficientCapacityError } from "#shared/errors.js";
import { buildPolicy, policyConfigFromSettings, type PlacementRequest } from "../allocator/index.js";
import { openTestDatabase, type Database } from "../db/database.js";
import { hosts, vmMigrations } from "../db/schema.js";
import { touchHost } from "../hosts/host-generation.js";
import { PlacementService } from "../placement/placement-service.js";
import { seedFleet, sqlRows, type FixtureIds } from "../placement/testing/placement-fixture.js";

let database: Database;
let ids: FixtureIds;

beforeAll(async () => {
  database = await openTestDatabase();
  // Two hosts of 16 CPUs / 32 GiB with 2 GiB reserved: 30 GiB placeable each.
  ids = await seedFleet(database.db, { hosts: 2, cpus: 16, memoryMib: 32768, reserveMib: 2048, gpuHosts: ["h2"], gpusPerHost: 1 });
}, 60_000);
afterAll(async () => { await database?.close(); });

describe("a migration's reservation", () => {
  it("keeps concurrent placements off the capacity it holds, in both commit paths, until it ends", async () => {
    const policy = buildPolicy(policyConfigFromSettings({
      "cluster.cpu.allocated.capacity.disablethreshold": 1, "cluster.memory.allocated.capacity.disablethreshold": 1,
    }));
    const db = database.db;
    const [h1] = await db.select().from(hosts).where(eq(hosts.name, "h1"));
    const [h2] = await db.select().from(hosts).where(eq(hosts.name, "h2"));
    for (const groupCommit of [true, false]) {
      const svc = new PlacementService({ db, policy: () => policy, groupCommit });
      const place = (name: string, memoryMib: number) => svc.placeAndCommit(
        { accountId: String(ids.accountId), environment: "env", vcpus: 1, memoryMib, hostId: String(h1!.id) } satisfies PlacementRequest,
        { vm: () => ({ uuid: randomUUID(), name, accountId: ids.accountId, environmentId: ids.envId, flavorId: ids.flavorId, imageId: ids.imageId }) },
      );
      // Warm the cache with a small VM on h1 (1 GiB), then reserve 26 GiB of h1 as reserve() does: row + new generation.
      const first = await place(`warm-${groupCommit}`, 1024);
      const vmId = first.vms[0]!.id;
      const [m] = await db.insert(vmMigrations).values({
        vmId, sourceHostId: h2!.id, destinationHostId: h1!.id, mode: "live", reservedVcpus: 1, reservedMemoryMib: 26 * 1024,
      }).returning();
      await touchHost(db, h1!.id);
      // 4 GiB would fit without the reservation (29 GiB free) but not with it (3 GiB free).
      await expect(place(`blocked-${groupCommit}`, 4096)).rejects.toBeInstanceOf(InsufficientCapacityError);
      // The reservation ends (cancelled): the same placement fits.
      await db.update(vmMigrations).set({ state: "cancelled" }).where(eq(vmMigrations.id, m!.id));
      await touchHost(db, h1!.id);
      const after = await place(`after-${groupCommit}`, 4096);
      expect(after.vms).toHaveLength(1);
      // Clean up h1 for the next round.
      await sqlRows(db, sql`delete from vm_migrations`);
      await sqlRows(db, sql`delete from jobs`);
      await sqlRows(db, sql`delete from allocations`);
    }
  });
});
