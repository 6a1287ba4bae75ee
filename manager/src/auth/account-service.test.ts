// Accounts: limits default from the settings, a name is unique among live accounts, delete is
// refused while the account owns VMs (and frees the name, revoking its keys), disabling refuses
// its keys at once. PostgreSQL when TEST_DATABASE_URL is set, else PGlite.
import { sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openTestDatabase, type Database } from "../db/database.js";
import { SettingsRegistry } from "../settings/settings-registry.js";
import { AccountService, defaultAccountLimits, defineAccountSettings } from "./account-service.js";
import { ApiKeyService } from "./api-key-service.js";

let database: Database;
let registry: SettingsRegistry;
let keys: ApiKeyService;
let accounts: AccountService;

beforeAll(async () => {
  database = await openTestDatabase();
  registry = new SettingsRegistry();
  defineAccountSettings(registry);
  keys = new ApiKeyService(database.db);
  accounts = new AccountService(database.db, () => defaultAccountLimits(registry), () => keys.forgetCached());
}, 60_000);
afterAll(async () => { await database?.close(); });

describe("AccountService", () => {
  it("takes limits not given from the account.default.max.* settings (null: unlimited)", async () => {
    expect((await accounts.create({ name: "plain" })).limits).toEqual({ vms: null, vcpus: null, memoryMib: null, gpus: null });
    registry.setLocal("account.default.max.vcpus", 64);
    registry.setLocal("account.default.max.gpus", 2);
    const a = await accounts.create({ name: "defaults", limits: { gpus: 8, vms: 10 } });
    expect(a.limits).toEqual({ vms: 10, vcpus: 64, memoryMib: null, gpus: 8 });
    expect(() => registry.setLocal("account.default.max.vms", -1)).toThrow(/between 0 and/);
    registry.setLocal("account.default.max.vcpus", null);
    registry.setLocal("account.default.max.gpus", null);
  });

  it("refuses a second live account of the same name, and a rename onto one", async () => {
    await accounts.create({ name: "dup" });
    await expect(accounts.create({ name: "dup" })).rejects.toMatchObject({ code: "already_exists" });
    const other = await accounts.create({ name: "dup-2" });
    await expect(accounts.update(other.id, { name: "dup" })).rejects.toMatchObject({ code: "already_exists" });
  });

  it("updates only the limits given; null lifts one", async () => {
    const a = await accounts.create({ name: "upd", limits: { vms: 3, vcpus: 8 } });
    const b = await accounts.update(a.id, { limits: { vcpus: null, gpus: 1 } });
    expect(b.limits).toEqual({ vms: 3, vcpus: null, memoryMib: null, gpus: 1 });
    await expect(accounts.update(999_999, { limits: { vms: 1 } })).rejects.toMatchObject({ code: "not_found" });
  });

  it("refuses deleting an account that owns VMs; deleting an empty one revokes its keys and frees its name", async () => {
    const a = await accounts.create({ name: "owner" });
    const { secret } = await keys.issue(a.id, { name: "k", role: "user" });
    expect((await keys.authenticate(secret)).accountId).toBe(a.id);
    const [region] = ((await database.db.execute(sql`insert into regions(name) values ('del-region') returning id`)) as unknown as { rows: { id: number }[] }).rows;
    const [env] = ((await database.db.execute(sql`insert into environments(name, account_id, region_id) values ('del-env', ${a.id}, ${region!.id}) returning id`)) as unknown as { rows: { id: number }[] }).rows;
    const [f] = ((await database.db.execute(sql`insert into flavors(name, vcpus, memory_mib) values ('del-f', 1, 1) returning id`)) as unknown as { rows: { id: number }[] }).rows;
    const [i] = ((await database.db.execute(sql`insert into images(name) values ('del-i') returning id`)) as unknown as { rows: { id: number }[] }).rows;
    await database.db.execute(sql`insert into vms(uuid, name, account_id, environment_id, flavor_id, image_id, state, vcpus, memory_mib)
      values (gen_random_uuid(), 'v', ${a.id}, ${env!.id}, ${f!.id}, ${i!.id}, 'Stopped', 1, 1)`);
    await expect(accounts.delete(a.id, 1)).rejects.toMatchObject({ code: "conflict", message: expect.stringMatching(/owns 1 virtual machine/) });
    expect((await accounts.usage([a.id])).get(a.id)).toMatchObject({ vms: 1 });
    await database.db.execute(sql`update vms set state = 'Destroyed', deleted_at = now() where account_id = ${a.id}`);
    await accounts.delete(a.id, 1);
    await expect(accounts.get(a.id)).rejects.toMatchObject({ code: "not_found" });
    await expect(keys.authenticate(secret)).rejects.toMatchObject({ code: "unauthenticated" });
    expect((await accounts.list()).some((x) => x.id === a.id)).toBe(false);
    const again = await accounts.create({ name: "owner" });
    expect(again.id).not.toBe(a.id);
  });

  it("a disabled account's keys are refused at once and work again once enabled; an admin cannot lock out their own account", async () => {
    const a = await accounts.create({ name: "switch" });
    const { secret } = await keys.issue(a.id, { name: "k", role: "user" });
    await keys.authenticate(secret); // cached
    await accounts.setDisabled(a.id, true, 1);
    await expect(keys.authenticate(secret)).rejects.toMatchObject({ code: "forbidden" });
    expect((await accounts.get(a.id)).disabled).toBe(true);
    await accounts.setDisabled(a.id, false, 1);
    expect((await keys.authenticate(secret)).accountId).toBe(a.id);
    await expect(accounts.setDisabled(a.id, true, a.id)).rejects.toMatchObject({ code: "forbidden" });
    await expect(accounts.delete(a.id, a.id)).rejects.toMatchObject({ code: "forbidden" });
  });
});
