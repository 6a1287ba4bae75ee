// Idempotency-Key on POSTs: a retry gets the first answer and does nothing; the same key with
// another request is refused; concurrent duplicates run once; answers expire and are swept.
import { randomUUID } from "node:crypto";
import { count, eq, sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { IdempotencyStore } from "../../manager/src/idempotency/idempotency-store.js";
import { idempotencyKeys, vms } from "../../manager/src/db/schema.js";
import { createUserKey, errorShapeProblems, jobsIdle, startTestCloud, stateDigest, type TestCloud } from "./harness.js";

let cloud: TestCloud;
beforeAll(async () => {
  cloud = await startTestCloud({ hosts: [{ hostname: "idem-a", uuid: "72000000-0000-4000-8000-000000000001", cpus: 32, memoryMib: 65536 }] });
  await cloud.waitFor("host up", async () => (await cloud.api("GET", "/v1/admin/hosts")).json.hosts?.[0]?.state === "Up");
}, 120_000);
afterAll(async () => { await cloud?.stop(); });

const vmCount = async (name: string) => {
  const [{ n }] = (await cloud.manager.database.db.select({ n: count() }).from(vms).where(eq(vms.name, name))) as [{ n: number }];
  return Number(n);
};
const body = (name: string) => ({ name, flavor_name: "n1-cpu-small", image_name: "Debian 12" });
const post = (path: string, b: unknown, key: string, apiKey?: string) => cloud.api("POST", path, b, apiKey, { "idempotency-key": key });

describe("Idempotency-Key", () => {
  it("replays the first answer to a retry sent after it finished, without creating again", async () => {
    const key = randomUUID();
    const first = await post("/v1/core/virtual-machines", body("idem-one"), key);
    expect(first.status).toBe(200);
    expect(first.headers.get("idempotent-replayed")).toBeNull();
    await jobsIdle(cloud);
    const before = await stateDigest(cloud);
    // Same request, keys in another order: the same request.
    const retry = await post("/v1/core/virtual-machines", { image_name: "Debian 12", flavor_name: "n1-cpu-small", name: "idem-one" }, key);
    expect(retry.status).toBe(200);
    expect(retry.json).toEqual(first.json);
    expect(retry.headers.get("idempotent-replayed")).toBe("true");
    expect(await vmCount("idem-one")).toBe(1);
    expect(await stateDigest(cloud)).toBe(before);
  });

  it("refuses the same key with a different body (422) or on another route, changing nothing", async () => {
    const key = randomUUID();
    expect((await post("/v1/core/virtual-machines", body("idem-two"), key)).status).toBe(200);
    await jobsIdle(cloud);
    const before = await stateDigest(cloud);
    const other = await post("/v1/core/virtual-machines", body("idem-two-b"), key);
    expect(other.status).toBe(422);
    expect(errorShapeProblems(422, other.json)).toEqual([]);
    expect(other.json).toMatchObject({ code: "idempotency_key_reused", field: "Idempotency-Key" });
    const route = await post("/v1/core/affinity-groups", { name: "idem-g", type: "host-affinity" }, key);
    expect(route.status).toBe(422);
    expect(await vmCount("idem-two-b")).toBe(0);
    expect(await stateDigest(cloud)).toBe(before);
  });

  it("runs two concurrent requests with one key once; both get the same answer", async () => {
    const key = randomUUID();
    const [a, b] = await Promise.all([post("/v1/core/virtual-machines", body("idem-race"), key), post("/v1/core/virtual-machines", body("idem-race"), key)]);
    expect([a.status, b.status]).toEqual([200, 200]);
    expect(a.json).toEqual(b.json);
    expect([a.headers.get("idempotent-replayed"), b.headers.get("idempotent-replayed")].sort()).toEqual([null, "true"].sort());
    expect(await vmCount("idem-race")).toBe(1);
    // Many at once, on a route that would answer 409 for a second create.
    const gkey = randomUUID();
    const many = await Promise.all(Array.from({ length: 6 }, () => post("/v1/core/affinity-groups", { name: "idem-race-g", type: "host-affinity" }, gkey)));
    expect(many.map((r) => r.status)).toEqual(Array(6).fill(201));
    expect(new Set(many.map((r) => r.json.affinity_group.id)).size).toBe(1);
    await jobsIdle(cloud);
  });

  it("keys are per account: another account's request with the same key runs", async () => {
    const key = randomUUID();
    const user = await createUserKey(cloud, "idem-user");
    const mine = await post("/v1/core/affinity-groups", { name: "idem-acct", type: "host-affinity" }, key);
    const theirs = await post("/v1/core/affinity-groups", { name: "idem-acct", type: "host-affinity" }, key, user);
    expect([mine.status, theirs.status]).toEqual([201, 201]);
    expect(theirs.json.affinity_group.id).not.toBe(mine.json.affinity_group.id);
  });

  it("does not keep failures: a refused request may be retried with its key", async () => {
    const key = randomUUID();
    const full = await post("/v1/core/virtual-machines", { ...body("idem-big"), flavor_name: "n3-H100x1" }, key);
    expect(full.status).toBe(409);
    const unknown = await post("/v1/core/virtual-machines", { ...body("idem-fix"), flavor_name: "nope" }, key);
    expect(unknown.status).toBe(400); // not a 422: the 409 was not kept
    const fixed = await post("/v1/core/virtual-machines", body("idem-fix"), key);
    expect(fixed.status).toBe(200);
    expect((await post("/v1/core/virtual-machines", body("idem-fix"), key)).headers.get("idempotent-replayed")).toBe("true");
    expect(await vmCount("idem-fix")).toBe(1);
    await jobsIdle(cloud);
  });

  it("refuses a malformed key, naming the header", async () => {
    const before = await stateDigest(cloud);
    for (const key of ["has space", "x".repeat(256), "é"]) {
      const r = await cloud.api("POST", "/v1/core/virtual-machines", body("idem-bad"), undefined, { "idempotency-key": key });
      expect(r.status, key).toBe(400);
      expect(r.json).toMatchObject({ code: "invalid_argument", field: "Idempotency-Key" });
    }
    expect(await stateDigest(cloud)).toBe(before);
  });

  it("forgets answers after their time: expired rows are swept and the key runs again", async () => {
    const db = cloud.manager.database.db;
    const key = randomUUID();
    expect((await post("/v1/core/affinity-groups", { name: "idem-exp", type: "host-affinity" }, key)).status).toBe(201);
    const [row] = await db.select().from(idempotencyKeys).where(eq(idempotencyKeys.key, key));
    expect(row!.expiresAt.getTime() - row!.createdAt.getTime()).toBe(24 * 3600_000);
    await db.update(idempotencyKeys).set({ expiresAt: sql`now() - interval '1 second'` }).where(eq(idempotencyKeys.key, key));
    // The same request now runs again (and meets the group created the first time).
    expect((await post("/v1/core/affinity-groups", { name: "idem-exp", type: "host-affinity" }, key)).status).toBe(409);
    // A sweep removes every expired row.
    await db.update(idempotencyKeys).set({ expiresAt: sql`now() - interval '1 second'` });
    expect(await new IdempotencyStore(db).sweep(true)).toBeGreaterThan(0);
    const [{ n }] = (await db.select({ n: count() }).from(idempotencyKeys)) as [{ n: number }];
    expect(Number(n)).toBe(0);
  });

  it("ignores requests without the header and other methods", async () => {
    expect((await cloud.api("POST", "/v1/core/affinity-groups", { name: "idem-none", type: "host-affinity" })).status).toBe(201);
    expect((await cloud.api("POST", "/v1/core/affinity-groups", { name: "idem-none", type: "host-affinity" })).status).toBe(409);
    const key = randomUUID();
    const list = await cloud.api("GET", "/v1/core/affinity-groups", undefined, undefined, { "idempotency-key": key });
    expect(list.status).toBe(200);
    const [{ n }] = (await cloud.manager.database.db.select({ n: count() }).from(idempotencyKeys).where(eq(idempotencyKeys.key, key))) as [{ n: number }];
    expect(Number(n)).toBe(0);
  });
});
