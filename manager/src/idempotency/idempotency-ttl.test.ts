// api.idempotency.ttl.hours: how long a key's answer is kept, per account (account > global),
// read when the key is first used.
import { eq } from "drizzle-orm";
import { afterAll, beforeAll, expect, it } from "vitest";
import { openTestDatabase, type Database } from "../db/database.js";
import { accounts, idempotencyKeys } from "../db/schema.js";
import { IDEMPOTENCY_TTL_SETTING, SettingsRegistry } from "../settings/settings-registry.js";
import { IdempotencyStore } from "./idempotency-store.js";

let database: Database;
let a: number;
let b: number;
beforeAll(async () => {
  database = await openTestDatabase();
  [{ id: a }, { id: b }] = await database.db.insert(accounts).values([{ name: "ttl-a" }, { name: "ttl-b" }]).returning({ id: accounts.id }) as [{ id: number }, { id: number }];
});
afterAll(async () => { await database?.close(); });

async function keptHours(store: IdempotencyStore, accountId: number, key: string): Promise<number> {
  const begun = await store.begin(accountId, key, "fp");
  if (begun.kind !== "run") throw new Error(`expected to run, got ${begun.kind}`);
  const [row] = await database.db.select().from(idempotencyKeys).where(eq(idempotencyKeys.id, begun.id));
  return Math.round((row!.expiresAt.getTime() - row!.createdAt.getTime()) / 360_000) / 10;
}

it("keeps answers for the account's value, else the global one", async () => {
  const registry = new SettingsRegistry();
  const store = new IdempotencyStore(database.db, { ttlMs: (accountId) => registry.resolve<number>(IDEMPOTENCY_TTL_SETTING, { accountId }) * 3600_000 });
  expect(await keptHours(store, a, "k1")).toBe(24);
  registry.setLocal(IDEMPOTENCY_TTL_SETTING, 2);
  registry.setLocal(IDEMPOTENCY_TTL_SETTING, 0.5, { scope: "account", id: b });
  expect(await keptHours(store, a, "k2")).toBe(2);
  expect(await keptHours(store, b, "k3")).toBe(0.5);
});
