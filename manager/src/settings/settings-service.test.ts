// Settings at scopes: the narrowest scope wins, DELETE falls back to the scope above, refusals
// name the setting and the rule, every change is audited, and a second service on the same
// database (another manager process) sees a change within a second (LISTEN/NOTIFY on PostgreSQL).
import pino from "pino";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { InvalidArgumentError, NotFoundError } from "#shared/errors.js";
import { openDatabase, openTestDatabase, type Database } from "../db/database.js";
import { seedFleet, type FixtureIds } from "../placement/testing/placement-fixture.js";
import { hosts } from "../db/schema.js";
import { booleanSetting, CORE_SETTINGS, SettingsRegistry, type SettingDefinition } from "./settings-registry.js";
import { SettingsListener } from "./settings-listener.js";
import { scopeRef, SettingsService } from "./settings-service.js";

const TEST_SETTINGS: SettingDefinition[] = [
  { name: "t.infra", description: "", schema: z.number().int(), range: { min: 0, max: 100 }, default: 1, scopes: ["cluster", "host"] },
  { name: "t.tenant", description: "", schema: z.string(), default: "d", scopes: ["environment", "account"] },
  { name: "t.global", description: "", schema: z.number().int(), range: { min: 0, max: 10 }, default: 0 },
  { name: "t.flag", description: "", schema: booleanSetting, default: false, scopes: ["account"] },
] as SettingDefinition[];

const silent = pino({ level: "silent" });
const warn = () => undefined;
const actor = { userId: 7, apiKeyId: 9 };

let database: Database & { url?: string };
let ids: FixtureIds;
let hostId: number;
let clusterId: number;
let svc: SettingsService;

function service(db = database.db): SettingsService {
  return new SettingsService(db, new SettingsRegistry([...CORE_SETTINGS, ...TEST_SETTINGS]));
}

beforeAll(async () => {
  database = await openTestDatabase();
  ids = await seedFleet(database.db, { hosts: 1, cpus: 8, memoryMib: 16384, reserveMib: 0, gpuHosts: ["none"], gpusPerHost: 0 });
  const [h] = await database.db.select().from(hosts).limit(1);
  hostId = h!.id;
  clusterId = h!.clusterId;
  svc = service();
  await svc.load(warn);
});
afterAll(async () => { await database?.close(); });

function thrown(f: () => unknown): unknown {
  try { f(); } catch (e) { return e; }
  return undefined;
}

async function rejection(p: Promise<unknown>): Promise<Error> {
  return p.then(() => { throw new Error("expected a refusal"); }, (e: Error) => e);
}

describe("scoped values", () => {
  it("resolve host > cluster > global for infrastructure, environment > account > global for tenants", async () => {
    const r = svc.registry;
    const ctx = { hostId, clusterId };
    expect(r.resolve("t.infra", ctx)).toBe(1);
    await svc.set("t.infra", 10, undefined, actor);
    expect(r.resolve("t.infra", ctx)).toBe(10);
    await svc.set("t.infra", 20, { scope: "cluster", id: clusterId }, actor);
    expect(r.resolve("t.infra", ctx)).toBe(20);
    await svc.set("t.infra", 30, { scope: "host", id: hostId }, actor);
    expect(r.resolve("t.infra", ctx)).toBe(30);
    expect(r.resolve("t.infra", { clusterId })).toBe(20); // another host of the cluster
    expect(r.get("t.infra")).toBe(10);

    await svc.set("t.tenant", "account", { scope: "account", id: ids.accountId });
    expect(r.resolve("t.tenant", { environmentId: ids.envId, accountId: ids.accountId })).toBe("account");
    await svc.set("t.tenant", "env", { scope: "environment", id: ids.envId });
    expect(r.resolve("t.tenant", { environmentId: ids.envId, accountId: ids.accountId })).toBe("env");
    expect(r.resolve("t.tenant", {})).toBe("d");
  });

  it("describes a setting at a scope: the value in effect and where it comes from", async () => {
    const atHost = await svc.describe("t.infra", { scope: "host", id: hostId });
    expect(atHost).toMatchObject({ value: 30, setHere: true, from: { scope: "host", id: hostId }, scopes: ["global", "cluster", "host"], type: "number" });
    await svc.reset("t.infra", { scope: "host", id: hostId }, actor);
    // DELETE at host: the cluster's value applies again, then the global one, then the default.
    expect(await svc.describe("t.infra", { scope: "host", id: hostId })).toMatchObject({ value: 20, setHere: false, from: { scope: "cluster", id: clusterId } });
    await svc.reset("t.infra", { scope: "cluster", id: clusterId }, actor);
    expect(svc.registry.resolve("t.infra", { hostId, clusterId })).toBe(10);
    await svc.reset("t.infra", undefined, actor);
    expect(await svc.describe("t.infra")).toMatchObject({ value: 1, isDefault: true, from: "default" });
  });

  it("keeps booleans as booleans: stored, audited, loaded again by another process, typed boolean", async () => {
    const at = { scope: "account" as const, id: ids.accountId };
    expect(await svc.set("t.flag", true, at, actor)).toBe(true);
    for (const v of ["true", 1, "yes", null]) await expect(svc.set("t.flag", v, at, actor)).rejects.toThrow(/^t\.flag: must be true or false/);
    const other = service();
    const warnings: string[] = [];
    await other.load((m) => warnings.push(m));
    expect(warnings).toEqual([]);
    expect(other.registry.resolve("t.flag", { accountId: ids.accountId })).toBe(true);
    expect(await other.describe("t.flag", at)).toMatchObject({ type: "boolean", value: true, default: false, setHere: true });
    expect((await svc.changes({ name: "t.flag", page: 1, pageSize: 10 })).changes.map((c) => [c.oldValue, c.newValue])).toEqual([[null, true]]);
    await svc.reset("t.flag", at, actor);
    expect((await svc.changes({ name: "t.flag", page: 1, pageSize: 10 })).changes[0]).toMatchObject({ oldValue: true, newValue: null });
  });

  it("refuses bad values, scopes the setting does not allow and missing scope objects, changing nothing", async () => {
    const range = await rejection(svc.set("t.infra", 101, { scope: "cluster", id: clusterId }));
    expect(range).toBeInstanceOf(InvalidArgumentError);
    expect(range.message).toBe("t.infra must be between 0 and 100 (got 101)");
    const scope = await rejection(svc.set("t.global", 1, { scope: "cluster", id: clusterId }));
    expect(scope).toBeInstanceOf(InvalidArgumentError);
    expect(scope.message).toBe("t.global cannot be set at scope cluster (allowed: global)");
    expect((await rejection(svc.set("t.tenant", "x", { scope: "host", id: hostId }))).message).toMatch(/t\.tenant cannot be set at scope host \(allowed: global, environment, account\)/);
    const missing = await rejection(svc.set("t.infra", 5, { scope: "host", id: 999_999 }));
    expect(missing).toBeInstanceOf(NotFoundError);
    expect(missing.message).toMatch(/host.*999999/);
    expect(svc.registry.valueAt("t.infra", { scope: "host", id: 999_999 })).toEqual({ set: false });
    expect(thrown(() => scopeRef("cluster", undefined))).toBeInstanceOf(InvalidArgumentError);
    expect((thrown(() => scopeRef("global", 3)) as Error).message).toMatch(/scope_id/);
    expect((thrown(() => scopeRef("zone", 3)) as Error).message).toMatch(/unknown scope zone/);
    expect(scopeRef("cluster", 4)).toEqual({ scope: "cluster", id: 4 });
  });

  it("audits every change with who, where, old and new value, newest first and paged", async () => {
    await svc.set("t.global", 3, undefined, actor);
    await svc.set("t.global", 4, undefined, actor);
    await svc.reset("t.global", undefined, actor);
    await svc.reset("t.global", undefined, actor); // nothing to remove: not a change
    const { changes, total } = await svc.changes({ name: "t.global", page: 1, pageSize: 2 });
    expect(total).toBe(3);
    expect(changes.map((c) => [c.oldValue, c.newValue])).toEqual([[4, null], [3, 4]]);
    expect(changes[0]).toMatchObject({ name: "t.global", scope: "global", scopeId: null, userId: 7, apiKeyId: 9 });
    expect(changes[0]!.at).toBeInstanceOf(Date);
    const page2 = await svc.changes({ name: "t.global", page: 2, pageSize: 2 });
    expect(page2.changes.map((c) => [c.oldValue, c.newValue])).toEqual([[null, 3]]);
    const infra = await svc.changes({ name: "t.infra", page: 1, pageSize: 50 });
    expect(infra.changes.find((c) => c.scope === "host")).toMatchObject({ scopeId: hostId, oldValue: 30, newValue: null });
    const all = await svc.changes({ page: 1, pageSize: 1 });
    expect(all.changes[0]!.name).toBe("t.global");
    await expect(svc.changes({ name: "no.such", page: 1, pageSize: 1 })).rejects.toThrow(NotFoundError);
  });

  it("concurrent changes of one setting chain in the audit: each old value is the previous new value", async () => {
    const values = Array.from({ length: 8 }, (_, i) => i + 1);
    await Promise.all(values.map((v) => svc.set("t.infra", v, { scope: "cluster", id: clusterId })));
    const { changes } = await svc.changes({ name: "t.infra", page: 1, pageSize: 8 });
    const chain = changes.reverse();
    for (let i = 1; i < chain.length; i++) expect(chain[i]!.oldValue).toBe(chain[i - 1]!.newValue);
    expect(new Set(chain.map((c) => c.newValue))).toEqual(new Set(values));
    await svc.reset("t.infra", { scope: "cluster", id: clusterId });
  });

  it("tells this process's listeners at once (the only process on PGlite)", async () => {
    const seen: string[] = [];
    const off = svc.onChange((name, at) => seen.push(`${name}@${at.scope}`));
    await svc.set("t.infra", 2, { scope: "cluster", id: clusterId });
    await svc.reset("t.infra", { scope: "cluster", id: clusterId });
    off();
    expect(seen).toEqual(["t.infra@cluster", "t.infra@cluster"]);
  });

  it("ignores stored values that no longer validate or name an unknown scope", async () => {
    const other = service();
    await database.db.execute(`insert into settings(name, scope, value) values ('t.global', 'zone:1', '1'), ('t.global', 'cluster:${clusterId}', '2')`);
    const warnings: string[] = [];
    await other.load((m) => warnings.push(m));
    expect(warnings.join("\n")).toMatch(/unknown scope zone:1/);
    expect(warnings.join("\n")).toMatch(/t\.global cannot be set at scope cluster/);
    await database.db.execute(`delete from settings where name = 't.global'`);
  });
});

describe.runIf(process.env.TEST_DATABASE_URL)("two manager processes on one PostgreSQL database", () => {
  let second: Database;
  let otherSvc: SettingsService;
  let listener: SettingsListener;
  beforeAll(async () => {
    second = await openDatabase({ url: database.url });
    otherSvc = service(second.db);
    await otherSvc.load(warn);
    listener = new SettingsListener({ url: database.url!, settings: otherSvc, log: silent, retryMinMs: 300, retryMaxMs: 600 });
    await listener.start();
  });
  afterAll(async () => {
    await listener?.stop();
    await second?.close();
  });

  async function seenWithin(ms: number, check: () => boolean): Promise<number> {
    const start = Date.now();
    while (!check()) {
      if (Date.now() - start > ms) throw new Error(`not seen within ${ms} ms`);
      await new Promise((r) => setTimeout(r, 10));
    }
    return Date.now() - start;
  }

  it("sees a change made by the other within one second, at every scope, and tells its listeners", async () => {
    const heard: string[] = [];
    otherSvc.onChange((name) => heard.push(name));
    await svc.set("t.infra", 42, { scope: "host", id: hostId });
    expect(await seenWithin(1000, () => otherSvc.registry.resolve("t.infra", { hostId, clusterId }) === 42)).toBeLessThan(1000);
    expect(heard).toContain("t.infra");
    await svc.reset("t.infra", { scope: "host", id: hostId });
    await seenWithin(1000, () => otherSvc.registry.resolve("t.infra", { hostId, clusterId }) === 1);
    await svc.set("t.global", 6);
    await seenWithin(1000, () => otherSvc.registry.get("t.global") === 6);
  });

  it("a change rolled back is never announced", async () => {
    const before = otherSvc.registry.get("t.global");
    await expect(database.db.transaction(async (tx) => {
      await tx.execute(`select pg_notify('orbit_settings', 't.global')`);
      await tx.execute(`insert into settings(name, scope, value) values ('t.global', 'global', '9') on conflict (name, scope) do update set value = '9'`);
      throw new Error("rolled back");
    })).rejects.toThrow("rolled back");
    await svc.set("t.infra", 3); // a later change arrives: the rolled-back one would have come first
    await seenWithin(1000, () => otherSvc.registry.get("t.infra") === 3);
    expect(otherSvc.registry.get("t.global")).toBe(before);
  });

  it("reconnects after losing its connection and re-reads what changed meanwhile", async () => {
    const admin = new pg.Client({ connectionString: database.url });
    await admin.connect();
    try {
      // Kill the listener's backend and change the setting while it is gone.
      await admin.query(`select pg_terminate_backend(pid) from pg_stat_activity where query like 'LISTEN orbit_settings%' and pid <> pg_backend_pid()`);
      await svc.set("t.global", 8);
      await seenWithin(3000, () => otherSvc.registry.get("t.global") === 8);
      await svc.set("t.global", 9);
      await seenWithin(1000, () => otherSvc.registry.get("t.global") === 9);
    } finally {
      await admin.end();
    }
  });
});

describe("string values that read as JSON", () => {
  it("come back as the strings they were (\"true\", \"42\", \"null\"), in the service, the audit and a reload", async () => {
    const a = service();
    await a.load(warn);
    for (const v of ["true", "42", "null", "[1]"]) {
      await a.set("t.tenant", v, { scope: "global" }, actor);
      const b = service();
      await b.load(warn);
      expect(b.registry.resolve("t.tenant", {})).toBe(v);
      const [change] = (await a.changes({ name: "t.tenant", page: 1, pageSize: 1 })).changes;
      expect(change!.newValue).toBe(v);
    }
    await a.reset("t.tenant", { scope: "global" }, actor);
  });
});
