import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openTestDatabase, type Database } from "../db/database.js";
import { accounts, clusters, environments, regions } from "../db/schema.js";
import { EnvironmentService } from "./environment-service.js";

let database: Database;
let svc: EnvironmentService;
let alice: number;
let bob: number;

beforeAll(async () => {
  database = await openTestDatabase();
  svc = new EnvironmentService(database.db);
  const [a, b] = await database.db.insert(accounts).values([{ name: "alice" }, { name: "bob" }]).returning();
  alice = a!.id;
  bob = b!.id;
  await svc.createRegion("CANADA-1", "Montreal");
}, 60_000);
afterAll(async () => { await database?.close(); });

const stored = async () => JSON.stringify(await database.db.select().from(environments).orderBy(environments.id));

describe("EnvironmentService", () => {
  it("starts with the default region; refuses a region name taken", async () => {
    expect((await svc.regions()).map((r) => r.name)).toEqual(["default", "CANADA-1"]);
    await expect(svc.createRegion("CANADA-1")).rejects.toMatchObject({ code: "already_exists" });
  });

  it("creates in a region, keeps names unique per account, and hides other accounts' environments", async () => {
    const env = await svc.create(alice, "prod", "CANADA-1");
    expect(env).toMatchObject({ accountId: alice, name: "prod", region: "CANADA-1" });
    await expect(svc.create(alice, "prod", "default")).rejects.toMatchObject({ code: "already_exists" });
    await expect(svc.create(alice, "x", "MARS-1")).rejects.toMatchObject({ code: "not_found", details: { field: "region" } });
    expect(await svc.create(bob, "prod", "default")).toMatchObject({ accountId: bob, region: "default" });
    await expect(svc.get(bob, env.id)).rejects.toMatchObject({ code: "not_found" });
    await expect(svc.rename(bob, env.id, "mine")).rejects.toMatchObject({ code: "not_found" });
    await expect(svc.delete(bob, env.id)).rejects.toMatchObject({ code: "not_found" });
    expect(await svc.get(alice, env.id)).toEqual(env);
  });

  it("renames, refusing a name the account already uses, and lists a page at a time with search", async () => {
    const staging = await svc.create(alice, "staging", "default");
    await expect(svc.rename(alice, staging.id, "prod")).rejects.toMatchObject({ code: "already_exists" });
    expect((await svc.rename(alice, staging.id, "stage")).name).toBe("stage");
    const all = await svc.list(alice, { page: 1, pageSize: 10 });
    expect(all.environments.map((e) => e.name)).toEqual(["prod", "stage"]);
    expect(all.total).toBe(2);
    expect((await svc.list(alice, { page: 2, pageSize: 1 })).environments.map((e) => e.name)).toEqual(["stage"]);
    expect((await svc.list(alice, { page: 1, pageSize: 10, search: "canada" })).environments.map((e) => e.name)).toEqual(["prod"]);
    expect((await svc.list(alice, { page: 1, pageSize: 10, search: "%" })).total).toBe(0);
  });

  it("gives each account the environment named after a region on first use, and nothing for an unknown name", async () => {
    const before = await stored();
    await expect(svc.named(bob, "MARS-1")).rejects.toMatchObject({ code: "not_found", details: { field: "environment_name" } });
    await expect(svc.named(bob, "MARS-1", "environment_name", "400")).rejects.toMatchObject({ code: "invalid_argument" });
    expect(await stored()).toBe(before);
    const implicit = await svc.named(bob, "CANADA-1");
    expect(implicit).toMatchObject({ accountId: bob, name: "CANADA-1", region: "CANADA-1" });
    expect(await svc.named(bob, "CANADA-1")).toEqual(implicit);
    expect((await svc.named(bob, "prod")).region).toBe("default");
  });

  it("deletes an empty environment", async () => {
    const env = await svc.create(alice, "temp", "default");
    await svc.delete(alice, env.id);
    await expect(svc.get(alice, env.id)).rejects.toMatchObject({ code: "not_found" });
    expect((await database.db.select().from(regions)).length).toBeGreaterThan(0);
  });
});

describe("the environment of a deploy that names none", () => {
  it("is the implicit one of the only region with hosts, located without creating it", async () => {
    // Regions default and CANADA-1 exist; only NORWAY-1 has a cluster (its id need not be its region's).
    const [norway] = await database.db.insert(regions).values({ name: "NORWAY-1" }).returning();
    await database.db.insert(clusters).values({ name: "default", regionId: norway!.id });
    const [carol] = await database.db.insert(accounts).values({ name: "carol" }).returning();
    const before = await stored();
    expect(await svc.locateOnly(carol!.id)).toMatchObject({ name: "NORWAY-1", region: "NORWAY-1", regionId: norway!.id });
    expect(await stored()).toBe(before);
    expect(await svc.only(carol!.id)).toMatchObject({ accountId: carol!.id, name: "NORWAY-1", region: "NORWAY-1" });
  });
});
