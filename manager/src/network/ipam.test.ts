// IPAM on the real database (PGlite, or PostgreSQL with TEST_DATABASE_URL): no address twice
// under concurrent reservations, all-or-nothing refusals when the range is full, release on
// destroy, and reservations a crashed create left behind swept.
import { randomUUID } from "node:crypto";
import { eq, sql } from "drizzle-orm";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { openTestDatabase, type Database } from "../db/database.js";
import { accounts, environments, flavors, images, ipAllocations, networks, vms } from "../db/schema.js";
import { transitionVm } from "../vm/vm-transitions.js";
import { contains, parseCidr, vmAddressRange } from "./cidr.js";
import { forgetSweeps, releaseUnplaced, reserveAddresses } from "./ipam.js";

let database: Database;
let networkId: number;
let ids: { account: number; environment: number; flavor: number; image: number };
const CIDR = parseCidr("10.9.0.0/28", "cidr"); // .2 to .14: 13 addresses for VMs
const RANGE = vmAddressRange(CIDR);

beforeAll(async () => {
  database = await openTestDatabase();
  const db = database.db;
  const [account] = await db.insert(accounts).values({ name: "ipam" }).returning();
  const [environment] = await db.insert(environments).values({ name: "ipam", accountId: account!.id, regionId: 1 }).returning();
  const [network] = await db.insert(networks).values({ environmentId: environment!.id, regionId: 1, cidr: CIDR.text, gateway: "10.9.0.1" }).returning();
  const [flavor] = await db.insert(flavors).values({ name: "ipam-f", vcpus: 1, memoryMib: 128 }).returning();
  const [image] = await db.insert(images).values({ name: "ipam-i" }).returning();
  networkId = network!.id;
  ids = { account: account!.id, environment: environment!.id, flavor: flavor!.id, image: image!.id };
}, 60_000);
afterAll(async () => { await database?.close(); });
beforeEach(async () => { await database.db.delete(ipAllocations); });

const reserve = (vmUuids: string[]) => reserveAddresses(database.db, { networkId, kind: "fixed", range: RANGE, vmUuids, what: "test network" });
const stored = async () => (await database.db.select().from(ipAllocations)).map((r) => `${r.vmUuid}=${r.address}`).sort();

describe("IPAM", () => {
  it("never gives one address twice to concurrent reservations, and fills the range exactly", async () => {
    const uuids = Array.from({ length: 13 }, () => randomUUID());
    const got = await Promise.all(uuids.map((u) => reserve([u])));
    const addresses = got.map((m, i) => m.get(uuids[i]!)!);
    expect(new Set(addresses).size).toBe(13);
    for (const a of addresses) expect(contains(CIDR, a) && a !== "10.9.0.1" && a !== "10.9.0.15" && a !== "10.9.0.0").toBe(true);
    expect(await stored()).toHaveLength(13);
    await expect(reserve([randomUUID()])).rejects.toMatchObject({ code: "conflict", message: expect.stringMatching(/test network has no free address for 1 more VM\(s\): 13 of 13 are in use/) });
    expect(await stored()).toHaveLength(13);
  });

  it("gives several VMs the lowest free addresses, or none of them when they do not all fit", async () => {
    const eleven = Array.from({ length: 11 }, () => randomUUID());
    const first = await reserve(eleven);
    expect([...first.values()]).toEqual(Array.from({ length: 11 }, (_, i) => `10.9.0.${i + 2}`));
    const before = await stored();
    await expect(reserve([randomUUID(), randomUUID(), randomUUID()])).rejects.toMatchObject({ code: "conflict" });
    expect(await stored()).toEqual(before);
    // Concurrent multi-VM reservations racing for the last two: one wins both, the other has nothing.
    const results = await Promise.allSettled([reserve([randomUUID(), randomUUID()]), reserve([randomUUID(), randomUUID()])]);
    expect(results.map((r) => r.status).sort()).toEqual(["fulfilled", "rejected"]);
    expect(await stored()).toHaveLength(13);
  });

  it("releases a VM's addresses when it is Destroyed, and a refused create's (but never a placed VM's)", async () => {
    const db = database.db;
    const placed = randomUUID();
    const unplaced = randomUUID();
    await reserve([placed, unplaced]);
    await db.insert(ipAllocations).values({ networkId, kind: "floating", address: "203.0.113.1", vmUuid: placed });
    const [vm] = await db.insert(vms).values({
      uuid: placed, name: "v", accountId: ids.account, environmentId: ids.environment, flavorId: ids.flavor, imageId: ids.image,
      state: "Destroying", vcpus: 1, memoryMib: 128,
    }).returning();
    await releaseUnplaced(db, [placed, unplaced]);
    expect((await db.select().from(ipAllocations)).map((r) => [r.vmUuid, r.kind])).toEqual([[placed, "fixed"], [placed, "floating"]]);
    await db.transaction((tx) => transitionVm(tx, vm!.id, "Destroyed", "test"));
    expect(await stored()).toEqual([]);
  });

  it("sweeps reservations a crashed create left (old, and no VM was ever written)", async () => {
    const db = database.db;
    // Due: no sweep of this network yet in this process (the tests above swept it just now).
    forgetSweeps();
    const ghost = randomUUID();
    await db.insert(ipAllocations).values({ networkId, kind: "fixed", address: "10.9.0.2", vmUuid: ghost, createdAt: sql`now() - interval '1 hour'` });
    const recent = randomUUID();
    await db.insert(ipAllocations).values({ networkId, kind: "fixed", address: "10.9.0.3", vmUuid: recent });
    const u = randomUUID();
    expect((await reserve([u])).get(u)).toBe("10.9.0.2");
    expect(await db.select().from(ipAllocations).where(eq(ipAllocations.vmUuid, ghost))).toEqual([]);
    expect(await db.select().from(ipAllocations).where(eq(ipAllocations.vmUuid, recent))).toHaveLength(1);
  });

  it("sweeps before refusing a full range, even when it swept a moment ago", async () => {
    const db = database.db;
    forgetSweeps();
    await reserve([randomUUID()]); // swept now: the next sweep is not due for a while
    await db.delete(ipAllocations);
    const ghost = randomUUID();
    await db.insert(ipAllocations).values({ networkId, kind: "fixed", address: "10.9.0.9", vmUuid: ghost, createdAt: sql`now() - interval '1 hour'` });
    const twelve = Array.from({ length: 12 }, () => randomUUID());
    await reserve(twelve);
    expect(await stored()).toHaveLength(13);
    // Full, but for the crashed create's address: it is swept and given rather than a 409.
    const u = randomUUID();
    expect((await reserve([u])).get(u)).toBe("10.9.0.9");
    expect(await db.select().from(ipAllocations).where(eq(ipAllocations.vmUuid, ghost))).toEqual([]);
  });
});
