// Users under accounts through the HTTP API: admins create, list, get, change and delete an
// account's users and give each its own keys (shown once, with the user's role); a disabled
// user's key gets 401 until enabled, a deleted user's keys are revoked; another account's user is
// a 404; user keys are refused on these admin routes; every bad input is a 4xx that changes
// nothing. GET /v1/auth/me shows the caller's user and account. Last, the users migration on a
// database that already has accounts and keys of both roles.
import { mkdtempSync, readFileSync, rmSync, writeFileSync, cpSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { PGlite } from "@electric-sql/pglite";
import { sql } from "drizzle-orm";
import { drizzle as drizzlePg } from "drizzle-orm/node-postgres";
import { migrate as migratePg } from "drizzle-orm/node-postgres/migrator";
import { drizzle as drizzlePglite } from "drizzle-orm/pglite";
import { migrate as migratePglite } from "drizzle-orm/pglite/migrator";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sha256 } from "../../shared/src/secrets.js";
import { ApiKeyService } from "../../manager/src/auth/api-key-service.js";
import { scratchDatabaseUrl } from "../../manager/src/db/database.js";
import { ADMIN_KEY, errorShapeProblems, startTestCloud, type TestCloud } from "./harness.js";

let cloud: TestCloud;

beforeAll(async () => {
  cloud = await startTestCloud({ hosts: [{ hostname: "users-a", uuid: "5e000000-0000-4000-8000-00000000000a", cpus: 16, memoryMib: 32768 }] });
  await cloud.waitFor("host up", async () => (await cloud.api("GET", "/v1/admin/hosts")).json.hosts?.[0]?.state === "Up");
}, 120_000);
afterAll(async () => { await cloud?.stop(); });

async function newAccount(name: string): Promise<number> {
  const a = await cloud.api("POST", "/v1/admin/accounts", { name });
  expect(a.status).toBe(201);
  return a.json.account.id as number;
}

async function newUser(accountId: number, body: Record<string, unknown>): Promise<Record<string, any>> {
  const r = await cloud.api("POST", `/v1/admin/accounts/${accountId}/users`, body);
  expect(r.status, JSON.stringify(r.json)).toBe(201);
  return r.json.user;
}

async function newKey(accountId: number, userId: number, name = "k"): Promise<Record<string, any>> {
  const r = await cloud.api("POST", `/v1/admin/accounts/${accountId}/users/${userId}/api-keys`, { name });
  expect(r.status, JSON.stringify(r.json)).toBe(201);
  return r.json.api_key;
}

const usersOf = async (accountId: number) => (await cloud.api("GET", `/v1/admin/accounts/${accountId}/users`)).json.users;

describe("users under accounts", () => {
  it("admins create, list, get, change and delete users", async () => {
    const acct = await newAccount("people");
    const alice = await newUser(acct, { name: "alice", email: "alice@example.com" });
    expect(alice).toMatchObject({ account_id: acct, name: "alice", email: "alice@example.com", role: "user", disabled: false });
    const bob = await newUser(acct, { name: "bob", role: "admin" });
    expect(bob).toMatchObject({ email: null, role: "admin" });

    const list = await cloud.api("GET", `/v1/admin/accounts/${acct}/users`);
    expect(list.status).toBe(200);
    expect(list.json.count).toBe(2);
    expect(list.json.users.map((u: any) => u.name)).toEqual(["alice", "bob"]);
    const got = await cloud.api("GET", `/v1/admin/accounts/${acct}/users/${alice.id}`);
    expect(got.json.user).toEqual(alice);

    const patched = await cloud.api("PATCH", `/v1/admin/accounts/${acct}/users/${alice.id}`, { name: "alice2", email: null, role: "admin" });
    expect(patched.status).toBe(200);
    expect(patched.json.user).toMatchObject({ id: alice.id, name: "alice2", email: null, role: "admin" });

    const del = await cloud.api("DELETE", `/v1/admin/accounts/${acct}/users/${bob.id}`);
    expect(del.status).toBe(200);
    expect((await cloud.api("GET", `/v1/admin/accounts/${acct}/users/${bob.id}`)).status).toBe(404);
    expect((await cloud.api("DELETE", `/v1/admin/accounts/${acct}/users/${bob.id}`)).status).toBe(404);
    expect((await usersOf(acct)).map((u: any) => u.name)).toEqual(["alice2"]);
    // The deleted user's name is free again.
    expect((await newUser(acct, { name: "bob" })).id).not.toBe(bob.id);
  });

  it("refuses bad input with a clear 4xx and changes nothing", async () => {
    const acct = await newAccount("strict");
    const carol = await newUser(acct, { name: "carol" });
    await newUser(acct, { name: "dan" });
    const before = JSON.stringify(await usersOf(acct));
    const cases: [string, string, unknown, number][] = [
      ["POST", `/v1/admin/accounts/${acct}/users`, { name: "carol" }, 409],
      ["POST", `/v1/admin/accounts/${acct}/users`, { name: "" }, 400],
      ["POST", `/v1/admin/accounts/${acct}/users`, { name: "has space" }, 400],
      ["POST", `/v1/admin/accounts/${acct}/users`, { name: "eve", role: "root" }, 400],
      ["POST", `/v1/admin/accounts/${acct}/users`, { name: "eve", email: "not-an-email" }, 400],
      ["POST", `/v1/admin/accounts/${acct}/users`, { name: "eve", extra: 1 }, 400],
      ["POST", "/v1/admin/accounts/999999/users", { name: "eve" }, 404],
      ["GET", "/v1/admin/accounts/999999/users", undefined, 404],
      ["GET", `/v1/admin/accounts/${acct}/users/999999`, undefined, 404],
      ["PATCH", `/v1/admin/accounts/${acct}/users/${carol.id}`, { name: "dan" }, 409],
      ["PATCH", `/v1/admin/accounts/${acct}/users/${carol.id}`, {}, 400],
      ["PATCH", `/v1/admin/accounts/${acct}/users/${carol.id}`, { disabled: "yes" }, 400],
      ["PATCH", `/v1/admin/accounts/${acct}/users/999999`, { name: "zed" }, 404],
      ["DELETE", `/v1/admin/accounts/${acct}/users/abc`, undefined, 400],
      ["POST", `/v1/admin/accounts/${acct}/users/999999/api-keys`, { name: "k" }, 404],
      ["POST", `/v1/admin/accounts/${acct}/users/${carol.id}/api-keys`, { name: "" }, 400],
    ];
    for (const [m, p, body, status] of cases) {
      const r = await cloud.api(m, p, body);
      expect(r.status, `${m} ${p} ${JSON.stringify(body)}: ${JSON.stringify(r.json)}`).toBe(status);
      expect(errorShapeProblems(r.status, r.json), `${m} ${p}`).toEqual([]);
    }
    expect(JSON.stringify(await usersOf(acct))).toBe(before);
    expect((await cloud.api("GET", `/v1/admin/accounts/${acct}/api-keys`)).json.count).toBe(0);
  });

  it("each user has its own keys with its role; a disabled user's key gets 401, a deleted user's keys are revoked", async () => {
    const acct = await newAccount("keyed");
    const frank = await newUser(acct, { name: "frank" });
    const grace = await newUser(acct, { name: "grace" });
    const fk = await newKey(acct, frank.id, "frank-laptop");
    const gk = await newKey(acct, grace.id, "grace-ci");
    expect(fk).toMatchObject({ account_id: acct, user_id: frank.id, role: "user", name: "frank-laptop" });
    expect(fk.key).toMatch(/^orb_/);
    const perUser = await cloud.api("GET", `/v1/admin/accounts/${acct}/users/${frank.id}/api-keys`);
    expect(perUser.json.api_keys.map((k: any) => k.id)).toEqual([fk.id]);
    expect(perUser.json.api_keys[0].key).toMatch(/…$/); // masked after creation
    expect((await cloud.api("GET", "/v1/core/virtual-machines", undefined, fk.key)).status).toBe(200);

    // A key a user generates for itself is its own.
    const self = await cloud.api("POST", "/v1/api-key/generate", { name: "self" }, fk.key);
    expect(self.status).toBe(200);
    const selfKey = self.json.api_key.key as string;
    expect((await cloud.api("GET", "/v1/auth/me", undefined, selfKey)).json.user.id).toBe(frank.id);
    // A user manages its own keys only: another user's key of the same account is a 404.
    const frankSees = (await cloud.api("GET", "/v1/api-key", undefined, fk.key)).json.api_keys.map((k: any) => k.id);
    expect(frankSees).toEqual([fk.id, self.json.api_key.id]);
    expect((await cloud.api("PUT", `/v1/api-key/${gk.id}`, { name: "mine" }, fk.key)).status).toBe(404);
    expect((await cloud.api("DELETE", `/v1/api-key/${gk.id}`, undefined, fk.key)).status).toBe(404);
    expect((await cloud.api("GET", "/v1/core/virtual-machines", undefined, gk.key)).status).toBe(200);

    // Disabled: all of frank's keys get 401, grace's still work; enabled again: they work.
    const off = await cloud.api("PATCH", `/v1/admin/accounts/${acct}/users/${frank.id}`, { disabled: true });
    expect(off.json.user.disabled).toBe(true);
    for (const k of [fk.key, selfKey]) {
      const r = await cloud.api("GET", "/v1/core/virtual-machines", undefined, k);
      expect(r.status).toBe(401);
      expect(errorShapeProblems(r.status, r.json)).toEqual([]);
    }
    expect((await cloud.api("GET", "/v1/core/virtual-machines", undefined, gk.key)).status).toBe(200);
    expect((await cloud.api("POST", `/v1/admin/accounts/${acct}/users/${frank.id}/api-keys`, { name: "x" })).status).toBe(409);
    await cloud.api("PATCH", `/v1/admin/accounts/${acct}/users/${frank.id}`, { disabled: false });
    expect((await cloud.api("GET", "/v1/core/virtual-machines", undefined, fk.key)).status).toBe(200);

    // Promoted: its existing key may use the admin API; demoted again: refused.
    await cloud.api("PATCH", `/v1/admin/accounts/${acct}/users/${frank.id}`, { role: "admin" });
    expect((await cloud.api("GET", "/v1/admin/accounts", undefined, fk.key)).status).toBe(200);
    await cloud.api("PATCH", `/v1/admin/accounts/${acct}/users/${frank.id}`, { role: "user" });
    expect((await cloud.api("GET", "/v1/admin/accounts", undefined, fk.key)).status).toBe(403);

    // Deleted: its keys are revoked (401), grace's are untouched.
    expect((await cloud.api("DELETE", `/v1/admin/accounts/${acct}/users/${frank.id}`)).status).toBe(200);
    expect((await cloud.api("GET", "/v1/core/virtual-machines", undefined, fk.key)).status).toBe(401);
    expect((await cloud.api("GET", "/v1/core/virtual-machines", undefined, selfKey)).status).toBe(401);
    expect((await cloud.api("GET", `/v1/admin/accounts/${acct}/api-keys`)).json.api_keys.map((k: any) => k.id)).toEqual([gk.id]);
    expect((await cloud.api("GET", "/v1/core/virtual-machines", undefined, gk.key)).status).toBe(200);
  });

  it("another account's user is a 404; user keys are refused on the users admin routes", async () => {
    const a = await newAccount("tenant-a");
    const b = await newAccount("tenant-b");
    const ua = await newUser(a, { name: "ann" });
    const ub = await newUser(b, { name: "ben" });
    const before = JSON.stringify([await usersOf(a), await usersOf(b)]);
    for (const [m, p, body] of [
      ["GET", `/v1/admin/accounts/${b}/users/${ua.id}`, undefined],
      ["PATCH", `/v1/admin/accounts/${b}/users/${ua.id}`, { name: "stolen" }],
      ["DELETE", `/v1/admin/accounts/${b}/users/${ua.id}`, undefined],
      ["POST", `/v1/admin/accounts/${b}/users/${ua.id}/api-keys`, { name: "k" }],
      ["GET", `/v1/admin/accounts/${b}/users/${ua.id}/api-keys`, undefined],
    ] as const) {
      expect((await cloud.api(m, p, body)).status, `${m} ${p}`).toBe(404);
    }
    const userKey = (await newKey(a, ua.id)).key as string;
    for (const [m, p, body] of [
      ["GET", `/v1/admin/accounts/${a}/users`, undefined],
      ["POST", `/v1/admin/accounts/${a}/users`, { name: "sneaky", role: "admin" }],
      ["PATCH", `/v1/admin/accounts/${a}/users/${ua.id}`, { role: "admin" }],
      ["DELETE", `/v1/admin/accounts/${b}/users/${ub.id}`, undefined],
      ["POST", `/v1/admin/accounts/${a}/users/${ua.id}/api-keys`, { name: "k" }],
    ] as const) {
      const r = await cloud.api(m, p, body, userKey);
      expect(r.status, `${m} ${p}`).toBe(403);
      expect(errorShapeProblems(r.status, r.json)).toEqual([]);
    }
    expect(JSON.stringify([await usersOf(a), await usersOf(b)])).toBe(before);
    expect((await cloud.api("GET", "/v1/admin/accounts", undefined, null)).status).toBe(401);
  });

  it("an admin cannot disable, demote or delete their own user", async () => {
    const me = (await cloud.api("GET", "/v1/auth/me")).json.user;
    const path = `/v1/admin/accounts/${me.account.id}/users/${me.id}`;
    expect((await cloud.api("PATCH", path, { disabled: true })).status).toBe(403);
    expect((await cloud.api("PATCH", path, { role: "user" })).status).toBe(403);
    expect((await cloud.api("DELETE", path)).status).toBe(403);
    expect((await cloud.api("GET", "/v1/admin/accounts")).status).toBe(200);
  });

  it("GET /v1/auth/me shows the caller's user and account", async () => {
    const acct = await newAccount("whoami");
    const heidi = await newUser(acct, { name: "heidi", email: "heidi@example.com" });
    const key = (await newKey(acct, heidi.id)).key as string;
    const me = await cloud.api("GET", "/v1/auth/me", undefined, key);
    expect(me.status).toBe(200);
    expect(me.json).toMatchObject({ status: true, user: {
      id: heidi.id, name: "heidi", username: "heidi", email: "heidi@example.com", role: "user",
      created_at: heidi.created_at, account: { id: acct, name: "whoami" },
    } });
    const admin = await cloud.api("GET", "/v1/auth/me", undefined, ADMIN_KEY);
    expect(admin.json.user).toMatchObject({ name: "admin", role: "admin", email: "", account: { name: "admin" } });
    expect((await cloud.api("GET", "/v1/auth/me", undefined, null)).status).toBe(401);
  });

  it("a VM's events name the user who acted", async () => {
    const acct = await newAccount("actors");
    const ivan = await newUser(acct, { name: "ivan" });
    const judy = await newUser(acct, { name: "judy" });
    const ik = (await newKey(acct, ivan.id)).key as string;
    const jk = (await newKey(acct, judy.id)).key as string;
    const created = await cloud.api("POST", "/v1/core/virtual-machines", { name: "shared", flavor_name: "n1-cpu-small", image_name: "Debian 12" }, ik);
    expect(created.status, JSON.stringify(created.json)).toBe(200);
    const vmId = created.json.instances[0].id as number;
    await cloud.waitFor("VM active", async () => (await cloud.api("GET", `/v1/core/virtual-machines/${vmId}`, undefined, ik)).json.instance?.status === "ACTIVE");
    expect((await cloud.api("GET", `/v1/core/virtual-machines/${vmId}/stop`, undefined, jk)).status).toBe(200);
    const events = (await cloud.api("GET", `/v1/core/virtual-machines/${vmId}/events`, undefined, ik)).json.instance_events as Record<string, any>[];
    const who = (type: string, action: string | null) => events.find((e) => e.type === type && e.action === action)?.user_id;
    expect(who("created", null)).toBe(ivan.id);
    expect(who("action_requested", "deploy")).toBe(ivan.id);
    expect(who("action_requested", "stop")).toBe(judy.id);
    expect(events.filter((e) => e.type === "state_changed").every((e) => e.user_id === null)).toBe(true);
  });

  it("the admin's account-level key route still gives keys by role, to the account's default users", async () => {
    const acct = await newAccount("legacy");
    const u = await cloud.api("POST", `/v1/admin/accounts/${acct}/api-keys`, { name: "u" });
    const o = await cloud.api("POST", `/v1/admin/accounts/${acct}/api-keys`, { name: "o", role: "admin" });
    expect(u.json.api_key.role).toBe("user");
    expect(o.json.api_key.role).toBe("admin");
    const users = await usersOf(acct);
    expect(users.map((x: any) => [x.id, x.name, x.role])).toEqual([
      [u.json.api_key.user_id, "default", "user"], [o.json.api_key.user_id, "admin", "admin"],
    ]);
    // A user key never sees the admin user's keys (as before users existed).
    const seen = await cloud.api("GET", "/v1/api-key", undefined, u.json.api_key.key);
    expect(seen.json.api_keys.map((k: any) => k.name)).toEqual(["u"]);
  });
});

// The users migration (0014-0016) on a database that has accounts and keys from before it.
describe("users migration on a database with accounts and keys", () => {
  const MIGRATIONS = fileURLToPath(new URL("../../manager/drizzle", import.meta.url));
  const FIRST_USERS_MIGRATION = "0015_users";

  /** The migrations folder as it was before users: the journal stops before 0014. */
  function migrationsBeforeUsers(): string {
    const dir = mkdtempSync(join(tmpdir(), "orbit-migrations-"));
    cpSync(MIGRATIONS, dir, { recursive: true });
    const journalPath = join(dir, "meta", "_journal.json");
    const journal = JSON.parse(readFileSync(journalPath, "utf8")) as { entries: { tag: string; idx: number }[] };
    const cut = journal.entries.findIndex((e) => e.tag === FIRST_USERS_MIGRATION);
    expect(cut).toBeGreaterThan(0);
    journal.entries = journal.entries.slice(0, cut);
    writeFileSync(journalPath, JSON.stringify(journal));
    return dir;
  }

  it("gives every account a default user, an admin user where it had admin keys, and every key the user of its role", async () => {
    const old = migrationsBeforeUsers();
    const scratch = await scratchDatabaseUrl("orbit_users_migration");
    const pool = scratch.url ? new pg.Pool({ connectionString: scratch.url }) : undefined;
    // pool.end() resolves before its sockets close: the drop's termination then reaches an idle
    // client, whose error the pool re-emits (with no listener, an uncaught exception).
    pool?.on("error", () => undefined);
    const lite = pool ? undefined : new PGlite();
    const db = (pool ? drizzlePg(pool) : drizzlePglite(lite!)) as unknown as ReturnType<typeof drizzlePglite>;
    const migrate = (folder: string) => pool
      ? migratePg(db as never, { migrationsFolder: folder })
      : migratePglite(db as never, { migrationsFolder: folder });
    try {
      await migrate(old);
      const rows = <T>(r: unknown) => ((r as { rows: T[] }).rows);
      const ids = rows<{ id: number; name: string }>(await db.execute(sql`
        INSERT INTO accounts (name, deleted_at) VALUES ('admin', NULL), ('only-users', NULL), ('mixed', NULL), ('no-keys', NULL), ('gone', now())
        RETURNING id, name`));
      const id = (n: string) => ids.find((r) => r.name === n)!.id;
      const keys: [string, string, string, boolean][] = [
        ["admin", "admin-key", "admin", false], ["only-users", "u1", "user", false], ["only-users", "u2", "user", true],
        ["mixed", "m-user", "user", false], ["mixed", "m-admin", "admin", false], ["gone", "g", "user", true],
      ];
      for (const [acct, name, role, revoked] of keys) {
        await db.execute(sql`INSERT INTO api_keys (account_id, name, key_hash, key_prefix, role, revoked_at)
          VALUES (${id(acct)}, ${name}, ${sha256(`secret-${name}`)}, 'orb_', ${role}, ${revoked ? new Date() : null})`);
      }

      await migrate(MIGRATIONS);

      const users = rows<{ id: number; account_id: number; name: string; role: string; deleted: boolean }>(await db.execute(sql`
        SELECT id, account_id, name, role, deleted_at IS NOT NULL AS deleted FROM users ORDER BY account_id, name`));
      const summary = users.map((u) => [ids.find((a) => a.id === u.account_id)!.name, u.name, u.role, u.deleted]);
      expect(summary).toEqual([
        ["admin", "admin", "admin", false],
        ["only-users", "default", "user", false],
        ["mixed", "admin", "admin", false], ["mixed", "default", "user", false],
        ["no-keys", "default", "user", false],
        ["gone", "default", "user", true],
      ]);
      const owned = rows<{ key: string; account: string; user: string; role: string }>(await db.execute(sql`
        SELECT k.name AS key, a.name AS account, u.name AS user, u.role FROM api_keys k
        JOIN users u ON u.id = k.user_id JOIN accounts a ON a.id = k.account_id ORDER BY k.id`));
      // Every key kept its role, through a user of its own account.
      expect(owned.map((k) => [k.key, k.account, k.user, k.role])).toEqual(keys.map(([acct, name, role]) =>
        [name, acct, role === "admin" ? "admin" : "default", role]));
      const cols = rows<{ column_name: string; is_nullable: string }>(await db.execute(sql`
        SELECT column_name, is_nullable FROM information_schema.columns WHERE table_name = 'api_keys'`));
      expect(cols.find((c) => c.column_name === "user_id")?.is_nullable).toBe("NO");
      expect(cols.map((c) => c.column_name)).not.toContain("role");

      // The migrated keys authenticate with their old roles.
      const svc = new ApiKeyService(db as never);
      expect(await svc.authenticate("secret-admin-key")).toMatchObject({ accountId: id("admin"), role: "admin" });
      expect(await svc.authenticate("secret-m-user")).toMatchObject({ accountId: id("mixed"), role: "user" });
      expect(await svc.authenticate("secret-m-admin")).toMatchObject({ accountId: id("mixed"), role: "admin" });
      await expect(svc.authenticate("secret-u2")).rejects.toMatchObject({ code: "unauthenticated" });
    } finally {
      await pool?.end();
      await lite?.close();
      await scratch.drop();
      rmSync(old, { recursive: true, force: true });
    }
  }, 60_000);
});
