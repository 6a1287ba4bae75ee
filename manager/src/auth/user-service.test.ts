import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { eq } from "drizzle-orm";
import { openTestDatabase, type Database } from "../db/database.js";
import { apiKeys, users } from "../db/schema.js";
import { AccountService } from "./account-service.js";
import { ApiKeyService, type Principal } from "./api-key-service.js";
import { UserService } from "./user-service.js";

let database: Database;
let keys: ApiKeyService;
let svc: UserService;
let accountsSvc: AccountService;
let admin: Principal;
beforeAll(async () => {
  database = await openTestDatabase();
  keys = new ApiKeyService(database.db);
  svc = new UserService(database.db, () => keys.forgetCached());
  accountsSvc = new AccountService(database.db, () => ({ vms: null, vcpus: null, memoryMib: null, gpus: null }), () => keys.forgetCached());
  await keys.ensureAdminKey("users-test-admin-key-0123456789");
  admin = await keys.authenticate("users-test-admin-key-0123456789");
}, 60_000);
afterAll(async () => { await database?.close(); });

describe("UserService", () => {
  it("the bootstrap admin key belongs to the admin account's admin user", async () => {
    const u = await svc.get(admin.accountId, admin.userId);
    expect(u).toMatchObject({ name: "admin", role: "admin", disabled: false, accountId: admin.accountId });
  });

  it("creates users with a name unique in their account, lists and gets them", async () => {
    const a = await accountsSvc.create({ name: "u-create" });
    const b = await accountsSvc.create({ name: "u-create-other" });
    const alice = await svc.create(a.id, { name: "alice", email: "alice@example.com" });
    expect(alice).toMatchObject({ accountId: a.id, name: "alice", email: "alice@example.com", role: "user", disabled: false });
    const bob = await svc.create(a.id, { name: "bob", role: "admin" });
    expect(bob).toMatchObject({ email: null, role: "admin" });
    await expect(svc.create(a.id, { name: "alice" })).rejects.toMatchObject({ code: "already_exists" });
    expect(await svc.create(b.id, { name: "alice" })).toMatchObject({ accountId: b.id }); // another account: fine
    await expect(svc.create(999_999, { name: "x" })).rejects.toMatchObject({ code: "not_found" });
    expect((await svc.list(a.id)).map((u) => u.name)).toEqual(["alice", "bob"]);
    await expect(svc.list(999_999)).rejects.toMatchObject({ code: "not_found" });
    expect(await svc.get(a.id, alice.id)).toEqual(alice);
    // Another account's user is not found.
    await expect(svc.get(b.id, alice.id)).rejects.toMatchObject({ code: "not_found" });
    await expect(svc.update(b.id, alice.id, { name: "x" }, admin)).rejects.toMatchObject({ code: "not_found" });
    await expect(svc.delete(b.id, alice.id, admin)).rejects.toMatchObject({ code: "not_found" });
    expect((await svc.get(a.id, alice.id)).name).toBe("alice");
  });

  it("a key has its user's role; a role change and disabling apply to the user's keys at once", async () => {
    const a = await accountsSvc.create({ name: "u-roles" });
    const carol = await svc.create(a.id, { name: "carol" });
    const { apiKey, secret } = await keys.issue(a.id, { name: "k", userId: carol.id });
    expect(apiKey).toMatchObject({ userId: carol.id, role: "user" });
    expect(await keys.authenticate(secret)).toMatchObject({ accountId: a.id, userId: carol.id, role: "user" });

    await svc.update(a.id, carol.id, { role: "admin" }, admin);
    expect((await keys.authenticate(secret)).role).toBe("admin");
    expect((await keys.list(a.id)).find((k) => k.id === apiKey.id)?.role).toBe("admin");

    const disabled = await svc.update(a.id, carol.id, { disabled: true }, admin);
    expect(disabled.disabled).toBe(true);
    await expect(keys.authenticate(secret)).rejects.toMatchObject({ code: "unauthenticated" });
    await expect(keys.issue(a.id, { name: "k2", userId: carol.id })).rejects.toMatchObject({ code: "conflict" });
    await svc.update(a.id, carol.id, { disabled: false }, admin);
    expect((await keys.authenticate(secret)).userId).toBe(carol.id);
  });

  it("renames, changes and removes the email; a taken name is refused and nothing changes", async () => {
    const a = await accountsSvc.create({ name: "u-update" });
    const d = await svc.create(a.id, { name: "dave", email: "d@example.com" });
    await svc.create(a.id, { name: "erin" });
    await expect(svc.update(a.id, d.id, { name: "erin", email: null }, admin)).rejects.toMatchObject({ code: "already_exists" });
    expect(await svc.get(a.id, d.id)).toMatchObject({ name: "dave", email: "d@example.com" });
    expect(await svc.update(a.id, d.id, { name: "david", email: null }, admin)).toMatchObject({ name: "david", email: null });
  });

  it("an admin cannot disable, demote or delete their own user", async () => {
    await expect(svc.update(admin.accountId, admin.userId, { disabled: true }, admin)).rejects.toMatchObject({ code: "forbidden" });
    await expect(svc.update(admin.accountId, admin.userId, { role: "user" }, admin)).rejects.toMatchObject({ code: "forbidden" });
    await expect(svc.delete(admin.accountId, admin.userId, admin)).rejects.toMatchObject({ code: "forbidden" });
    expect(await svc.get(admin.accountId, admin.userId)).toMatchObject({ role: "admin", disabled: false });
  });

  it("deleting a user revokes its keys (only its own) and frees its name", async () => {
    const a = await accountsSvc.create({ name: "u-delete" });
    const f = await svc.create(a.id, { name: "frank" });
    const g = await svc.create(a.id, { name: "grace" });
    const fk = await keys.issue(a.id, { name: "f", userId: f.id });
    const gk = await keys.issue(a.id, { name: "g", userId: g.id });
    await keys.authenticate(fk.secret); // cached now: the delete must still end it
    await svc.delete(a.id, f.id, admin);
    await expect(keys.authenticate(fk.secret)).rejects.toMatchObject({ code: "unauthenticated" });
    expect((await keys.authenticate(gk.secret)).userId).toBe(g.id);
    const [row] = await database.db.select().from(apiKeys).where(eq(apiKeys.id, fk.apiKey.id));
    expect(row!.revokedAt).not.toBeNull();
    await expect(svc.get(a.id, f.id)).rejects.toMatchObject({ code: "not_found" });
    await expect(svc.delete(a.id, f.id, admin)).rejects.toMatchObject({ code: "not_found" });
    await expect(keys.issue(a.id, { name: "again", userId: f.id })).rejects.toMatchObject({ code: "not_found" });
    expect((await svc.create(a.id, { name: "frank" })).id).not.toBe(f.id);
  });

  it("keys issued by role alone go to the account's default user of that role", async () => {
    const a = await accountsSvc.create({ name: "u-default" });
    const u = await keys.issue(a.id, { name: "u", role: "user" });
    const o = await keys.issue(a.id, { name: "o", role: "admin" });
    const byId = new Map((await svc.list(a.id)).map((x) => [x.id, x]));
    expect(byId.get(u.apiKey.userId)).toMatchObject({ name: "default", role: "user" });
    expect(byId.get(o.apiKey.userId)).toMatchObject({ name: "admin", role: "admin" });
    expect((await keys.issue(a.id, { name: "u2", role: "user" })).apiKey.userId).toBe(u.apiKey.userId);
  });

  it("deleting an account deletes its users", async () => {
    const a = await accountsSvc.create({ name: "u-gone" });
    const h = await svc.create(a.id, { name: "heidi" });
    await accountsSvc.delete(a.id, admin.accountId);
    const [row] = await database.db.select().from(users).where(eq(users.id, h.id));
    expect(row!.deletedAt).not.toBeNull();
    await expect(svc.list(a.id)).rejects.toMatchObject({ code: "not_found" });
  });
});
