import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openTestDatabase, type Database } from "../db/database.js";
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
});
