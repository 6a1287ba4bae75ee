import { hostname } from "node:os";
import { eq, sql } from "drizzle-orm";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openTestDatabase, type Database } from "../db/database.js";
import { hosts, managerInstances } from "../db/schema.js";
import { seedFleet, sqlRows } from "../placement/testing/placement-fixture.js";
import { PeerManagers, defaultAgentAddress } from "./manager-instances.js";

const silent = pino({ level: "silent" });

describe("defaultAgentAddress", () => {
  it("is the gateway's address, or this machine's name when the gateway listens on every address", () => {
    expect(defaultAgentAddress("10.0.0.5", 9090)).toBe("10.0.0.5:9090");
    expect(defaultAgentAddress("::1", 9090)).toBe("[::1]:9090");
    expect(defaultAgentAddress("0.0.0.0", 9090)).toBe(`${hostname()}:9090`);
    expect(defaultAgentAddress("::", 9091)).toBe(`${hostname()}:9091`);
  });
});

describe("PeerManagers", () => {
  let database: Database;
  beforeAll(async () => {
    database = await openTestDatabase();
    await seedFleet(database.db, { hosts: 1, cpus: 8, memoryMib: 8192, reserveMib: 0, gpuHosts: ["h1"], gpusPerHost: 1 });
  });
  afterAll(async () => { await database?.close(); });

  it("lists the live managers' agent addresses, oldest first, tells of changes, and forgets one that stops beating", async () => {
    const seenByA: string[][] = [];
    const a = new PeerManagers({ db: database.db, log: silent, heartbeatMs: 50, onChange: (l) => seenByA.push(l) });
    await a.start({ agentAddress: "m1:9090", apiAddress: "http://m1:8080" });
    expect(a.agentAddresses()).toEqual(["m1:9090"]);
    const b = new PeerManagers({ db: database.db, log: silent, heartbeatMs: 50, staleMs: 1000 });
    await b.start({ agentAddress: "m2:9090", apiAddress: "http://m2:8080" });
    expect(b.agentAddresses()).toEqual(["m1:9090", "m2:9090"]);
    await expect.poll(() => a.agentAddresses(), { timeout: 2000 }).toEqual(["m1:9090", "m2:9090"]);
    expect(seenByA).toEqual([["m1:9090"], ["m1:9090", "m2:9090"]]);

    // A stops beating (killed: its timer gone, its row left behind): B drops it once it is stale.
    await a.stop();
    await database.db.insert(managerInstances).values({ id: a.id, agentAddress: "m1:9090", apiAddress: "x", hostname: "h", pid: 1, lastSeenAt: new Date(Date.now() - 60_000) });
    await expect.poll(() => b.agentAddresses(), { timeout: 2000 }).toEqual(["m2:9090"]);
    await b.stop();
  });

  it("a clean stop removes its row and its claim on hosts' streams, not another manager's", async () => {
    const [h] = await sqlRows<{ id: number }>(database.db, sql`select id from hosts limit 1`);
    const a = new PeerManagers({ db: database.db, log: silent });
    await a.start({ agentAddress: "m1:9090", apiAddress: "http://m1:8080" });
    await database.db.update(hosts).set({ connectedManagerId: a.id }).where(eq(hosts.id, h!.id));
    await a.stop();
    expect(await database.db.select().from(managerInstances).where(eq(managerInstances.id, a.id))).toEqual([]);
    expect((await database.db.select({ m: hosts.connectedManagerId }).from(hosts).where(eq(hosts.id, h!.id)))[0]!.m).toBeNull();
    const b = new PeerManagers({ db: database.db, log: silent });
    await b.start({ agentAddress: "m2:9090", apiAddress: "http://m2:8080" });
    await database.db.update(hosts).set({ connectedManagerId: b.id }).where(eq(hosts.id, h!.id));
    const c = new PeerManagers({ db: database.db, log: silent });
    await c.start({ agentAddress: "m3:9090", apiAddress: "http://m3:8080" });
    await c.stop();
    expect((await database.db.select({ m: hosts.connectedManagerId }).from(hosts).where(eq(hosts.id, h!.id)))[0]!.m).toBe(b.id);
    await b.stop();
  });
});
