import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openTestDatabase, type Database } from "../db/database.js";
import { apiKeys } from "../db/schema.js";
import { ApiKeyService } from "./api-key-service.js";

let database: Database;
beforeAll(async () => { database = await openTestDatabase(); }, 60_000);
afterAll(async () => { await database?.close(); });

describe("ApiKeyService", () => {
  it("creates the admin key once, and a changed ORBIT_ADMIN_KEY retires the previous one", async () => {
    const keys = new ApiKeyService(database.db);
    expect(await keys.ensureAdminKey("first-admin-key-0123456789")).toEqual({ created: true, key: "first-admin-key-0123456789" });
    expect(await keys.ensureAdminKey("first-admin-key-0123456789")).toEqual({ created: false });
    expect((await keys.authenticate("first-admin-key-0123456789")).role).toBe("admin");

    const fresh = new ApiKeyService(database.db); // a restart: no cache
    await fresh.ensureAdminKey("second-admin-key-0123456789");
    await expect(fresh.authenticate("first-admin-key-0123456789")).rejects.toMatchObject({ code: "unauthenticated" });
    expect((await fresh.authenticate("second-admin-key-0123456789")).role).toBe("admin");
  });

  it("refuses missing and unknown keys", async () => {
    const keys = new ApiKeyService(database.db);
    await expect(keys.authenticate(undefined)).rejects.toMatchObject({ code: "unauthenticated" });
    await expect(keys.authenticate("orb_nope")).rejects.toMatchObject({ code: "unauthenticated" });
    const user = await keys.createKey("acme", "user", "ci");
    expect(await keys.authenticate(user)).toMatchObject({ role: "user" });
  });

  it("issues a key shown once (only its hash and a prefix are stored), lists, renames and revokes it at once", async () => {
    const keys = new ApiKeyService(database.db);
    await keys.createKey("lister", "user", "first");
    const admin = await keys.authenticate("second-admin-key-0123456789");
    const lister = (await keys.list(admin.accountId)).length;
    const user = await keys.authenticate(await keys.createKey("lister", "user", "second"));
    const { apiKey, secret } = await keys.issue(user.accountId, { name: "ci", description: "for CI", role: "user" });
    expect(secret.startsWith(apiKey.prefix)).toBe(true);
    expect(apiKey.prefix.length).toBeLessThan(secret.length / 2);
    const stored = JSON.stringify(await database.db.select().from(apiKeys));
    expect(stored).not.toContain(secret);
    expect((await keys.list(user.accountId)).map((k) => k.name)).toEqual(["first", "second", "ci"]);
    expect(await keys.list(admin.accountId)).toHaveLength(lister);
    expect((await keys.update(user.accountId, apiKey.id, { name: "ci-2" })).description).toBe("for CI");
    expect((await keys.authenticate(secret)).keyId).toBe(apiKey.id); // cached now
    // Another account's key is not found; revoking is immediate in this process.
    await expect(keys.revoke(admin.accountId, apiKey.id)).rejects.toMatchObject({ code: "not_found" });
    await keys.revoke(user.accountId, apiKey.id);
    await expect(keys.authenticate(secret)).rejects.toMatchObject({ code: "unauthenticated" });
    await expect(keys.revoke(user.accountId, apiKey.id)).rejects.toMatchObject({ code: "not_found" });
  });

  it("a user key never sees nor revokes its account's admin keys", async () => {
    const keys = new ApiKeyService(database.db);
    const u = await keys.authenticate(await keys.createKey("mixed-roles", "user", "u"));
    const { apiKey: adminKey } = await keys.issue(u.accountId, { name: "ops", role: "admin" });
    expect((await keys.list(u.accountId, "user")).map((k) => k.name)).toEqual(["u"]);
    expect((await keys.list(u.accountId, "admin")).map((k) => k.name)).toEqual(["u", "ops"]);
    await expect(keys.revoke(u.accountId, adminKey.id, "user")).rejects.toMatchObject({ code: "not_found" });
    await expect(keys.update(u.accountId, adminKey.id, { name: "x" }, "user")).rejects.toMatchObject({ code: "not_found" });
  });
});
