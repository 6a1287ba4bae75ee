// HostService.recordHeartbeats: the coalescer's one statement, on PGlite and PostgreSQL alike.
import { inArray, sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openTestDatabase, type Database } from "../db/database.js";
import { hosts } from "../db/schema.js";
import { seedFleet, sqlRows } from "../placement/testing/placement-fixture.js";
import { HostService } from "./host-service.js";

let database: Database;
let ids: number[];
beforeAll(async () => {
  database = await openTestDatabase();
  await seedFleet(database.db, { hosts: 3, cpus: 4, memoryMib: 8192, reserveMib: 0, gpuHosts: ["h1"], gpusPerHost: 1 });
  ids = (await sqlRows<{ id: number }>(database.db, sql`select id from hosts order by name`)).map((r) => r.id);
});
afterAll(async () => { await database?.close(); });

const read = () => database.db.select({ id: hosts.id, state: hosts.state, haReason: hosts.haReason, at: hosts.lastHeartbeatAt, generation: hosts.generation })
  .from(hosts).where(inArray(hosts.id, ids)).orderBy(hosts.id);

describe("HostService.recordHeartbeats", () => {
  it("writes each host's heartbeat in one statement; a host not Up becomes Up with a new generation, an Up host keeps its own", async () => {
    const svc = new HostService(database.db, () => 0);
    const [a, b, c] = ids as [number, number, number];
    await database.db.update(hosts).set({ state: "Up", generation: 11 }).where(inArray(hosts.id, [a, c]));
    await database.db.update(hosts).set({ state: "Suspect", haReason: "missed its heartbeats: being investigated", generation: 22 }).where(inArray(hosts.id, [b]));
    const t1 = new Date("2026-12-05T03:00:00.123Z");
    const t2 = new Date("2026-12-05T03:00:00.456Z");
    expect(await svc.recordHeartbeats([{ hostId: a, at: t1 }, { hostId: b, at: t2 }])).toEqual([b]);
    const [ra, rb, rc] = await read();
    expect(ra).toMatchObject({ state: "Up", at: t1, generation: 11 });
    expect(rb).toMatchObject({ state: "Up", haReason: "", at: t2 });
    expect(rb!.generation).not.toBe(22);
    expect(rc).toMatchObject({ state: "Up", generation: 11, at: null });
    expect(await svc.recordHeartbeats([])).toEqual([]); // nothing to write: no statement
    expect(await svc.recordHeartbeats([{ hostId: b, at: t1 }])).toEqual([]); // Up already
  });
});
