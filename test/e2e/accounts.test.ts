// Accounts, API keys and per-account limits through the HTTP API, with two user accounts: keys
// shown once, listed masked, revoked keys refused at once, admin routes refused to user keys,
// another account's resources answered 404 (never 403), limits refusing with the limit, usage and
// maximum and leaving nothing behind, and concurrent creates never passing a limit.
import { and, count, eq, isNull } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { vms } from "../../manager/src/db/schema.js";
import { errorShapeProblems, jobsIdle, startTestCloud, stateDigest, type TestCloud } from "./harness.js";

const HOSTS = [{ hostname: "acct-a", uuid: "ac000000-0000-4000-8000-00000000000a", cpus: 64, memoryMib: 131072 }];
const TINY = { flavor_name: "t1-tiny", image_name: "Debian 12" };

let cloud: TestCloud;

beforeAll(async () => {
  cloud = await startTestCloud({ hosts: HOSTS });
  await cloud.waitFor("host up", async () => (await cloud.api("GET", "/v1/admin/hosts")).json.hosts?.[0]?.state === "Up");
}, 120_000);
afterAll(async () => { await cloud?.stop(); });

async function newAccount(name: string, limits?: Record<string, number | null>): Promise<{ id: number; key: string; keyId: number }> {
  const a = await cloud.api("POST", "/v1/admin/accounts", { name, ...(limits && { limits }) });
  expect(a.status).toBe(201);
  const k = await cloud.api("POST", `/v1/admin/accounts/${a.json.account.id}/api-keys`, { name: `${name}-key` });
  expect(k.status).toBe(201);
  return { id: a.json.account.id, key: k.json.api_key.key, keyId: k.json.api_key.id };
}

async function liveVms(accountId: number): Promise<number> {
  const [r] = await cloud.manager.database.db.select({ n: count() }).from(vms).where(and(eq(vms.accountId, accountId), isNull(vms.deletedAt)));
  return Number(r!.n);
}

describe("accounts and API keys", () => {
  it("admins create, list, get and change accounts; names are unique; limits are typed", async () => {
    const a = await cloud.api("POST", "/v1/admin/accounts", { name: "acme", limits: { vms: 10, memory_mib: 65536 } });
    expect(a.status).toBe(201);
    expect(a.json.account).toMatchObject({
      name: "acme", disabled: false, limits: { vms: 10, vcpus: null, memory_mib: 65536, gpus: null },
      usage: { vms: 0, vcpus: 0, memory_mib: 0, gpus: 0 },
    });
    const dup = await cloud.api("POST", "/v1/admin/accounts", { name: "acme" });
    expect(dup.status).toBe(409);
    expect(errorShapeProblems(dup.status, dup.json)).toEqual([]);
    expect((await cloud.api("POST", "/v1/admin/accounts", { name: "x", limits: { vms: -1 } })).status).toBe(400);
    expect((await cloud.api("POST", "/v1/admin/accounts", { name: "x", limits: { vms: "3" } })).status).toBe(400);
    const upd = await cloud.api("PUT", `/v1/admin/accounts/${a.json.account.id}`, { limits: { vms: null, gpus: 2 } });
    expect(upd.json.account.limits).toEqual({ vms: null, vcpus: null, memory_mib: 65536, gpus: 2 });
    const list = await cloud.api("GET", "/v1/admin/accounts");
    expect(list.json.accounts.map((x: any) => x.name)).toEqual(expect.arrayContaining(["admin", "acme"]));
    expect((await cloud.api("GET", "/v1/admin/accounts/999999")).status).toBe(404);
  });

  it("a key is shown once, listed masked, and a revoked key gets 401 at once (user and admin routes)", async () => {
    const u = await newAccount("keys-user");
    const mine = await cloud.api("GET", "/v1/api-key", undefined, u.key);
    expect(mine.status).toBe(200);
    expect(mine.json.api_keys).toHaveLength(1);
    expect(mine.json.api_keys[0].key).toMatch(/^orb_.{8}…$/);
    expect(u.key.startsWith(mine.json.api_keys[0].key.slice(0, -1))).toBe(true);

    const gen = await cloud.api("POST", "/v1/api-key/generate", { name: "ci", description: "pipeline" }, u.key);
    expect(gen.status).toBe(200);
    expect(gen.json.api_key).toMatchObject({ name: "ci", description: "pipeline", role: "user" });
    const second = gen.json.api_key.key as string;
    expect((await cloud.api("GET", "/v1/core/virtual-machines", undefined, second)).status).toBe(200);
    const renamed = await cloud.api("PUT", `/v1/api-key/${gen.json.api_key.id}`, { name: "ci-2" }, u.key);
    expect(renamed.json.api_key).toMatchObject({ name: "ci-2", description: "pipeline" });
    expect(renamed.json.api_key.key).not.toBe(second);
    const listed = await cloud.api("GET", "/v1/api-key", undefined, u.key);
    expect(JSON.stringify(listed.json)).not.toContain(second);
    // Its answer holds the secret, so it is never recorded for an Idempotency-Key replay.
    const idem = await cloud.api("POST", "/v1/api-key/generate", { name: "retry" }, u.key, { "idempotency-key": "k-1" });
    expect(idem.status).toBe(400);
    expect(idem.json).toMatchObject({ code: "invalid_argument", field: "Idempotency-Key" });
    expect((await cloud.api("GET", "/v1/api-key", undefined, u.key)).json.api_keys).toHaveLength(2);

    expect((await cloud.api("DELETE", `/v1/api-key/${gen.json.api_key.id}`, undefined, u.key)).status).toBe(200);
    const refused = await cloud.api("GET", "/v1/core/virtual-machines", undefined, second);
    expect(refused.status).toBe(401);
    expect(errorShapeProblems(refused.status, refused.json)).toEqual([]);
    expect((await cloud.api("DELETE", `/v1/api-key/${gen.json.api_key.id}`, undefined, u.key)).status).toBe(404);

    // The admin revokes the account's first key.
    const adminList = await cloud.api("GET", `/v1/admin/accounts/${u.id}/api-keys`);
    expect(adminList.json.api_keys.map((k: any) => k.id)).toEqual([u.keyId]);
    expect((await cloud.api("DELETE", `/v1/admin/accounts/${u.id}/api-keys/${u.keyId}`)).status).toBe(200);
    expect((await cloud.api("GET", "/v1/api-key", undefined, u.key)).status).toBe(401);
  });

  it("admin routes refuse user keys; a user cannot mint an admin key", async () => {
    const u = await newAccount("not-admin");
    for (const [m, p] of [["GET", "/v1/admin/accounts"], ["POST", `/v1/admin/accounts/${u.id}/api-keys`], ["GET", "/v1/admin/hosts"]] as const) {
      const r = await cloud.api(m, p, m === "POST" ? { name: "x", role: "admin" } : undefined, u.key);
      expect(r.status, `${m} ${p}`).toBe(403);
    }
    const gen = await cloud.api("POST", "/v1/api-key/generate", { name: "try" }, u.key);
    expect(gen.json.api_key.role).toBe("user");
    expect((await cloud.api("GET", "/v1/admin/accounts", undefined, gen.json.api_key.key)).status).toBe(403);
  });

  it("another account's VM, affinity group, job and API key are 404 (not 403) to user B", async () => {
    const a = await newAccount("cross-a");
    const b = await newAccount("cross-b");
    const group = await cloud.api("POST", "/v1/core/affinity-groups", { name: "spread", type: "host-anti-affinity", strict: false }, a.key);
    expect(group.status).toBe(201);
    const vm = await cloud.api("POST", "/v1/core/virtual-machines", { name: "a-vm", ...TINY, affinity_group_names: ["spread"] }, a.key);
    expect(vm.status).toBe(200);
    const vmId = vm.json.instances[0].id as number;
    const jobId = vm.json.job_id as number;
    const groupId = group.json.affinity_group.id as number;
    await cloud.waitFor("VM running", async () => (await cloud.api("GET", `/v1/core/virtual-machines/${vmId}`, undefined, a.key)).json.instance?.status === "ACTIVE");
    const before = await stateDigest(cloud);
    for (const [method, path] of [
      ["GET", `/v1/core/virtual-machines/${vmId}`],
      ["DELETE", `/v1/core/virtual-machines/${vmId}`],
      ["GET", `/v1/core/affinity-groups/${groupId}`],
      ["DELETE", `/v1/core/affinity-groups/${groupId}`],
      ["GET", `/v1/core/jobs/${jobId}`],
      ["PUT", `/v1/api-key/${a.keyId}`],
      ["DELETE", `/v1/api-key/${a.keyId}`],
    ] as const) {
      const r = await cloud.api(method, path, method === "PUT" ? { name: "mine now" } : undefined, b.key);
      expect(r.status, `${method} ${path}`).toBe(404);
      expect(errorShapeProblems(r.status, r.json)).toEqual([]);
    }
    expect(await stateDigest(cloud)).toBe(before);
    const listB = await cloud.api("GET", "/v1/core/virtual-machines", undefined, b.key);
    expect(listB.json.instances).toEqual([]);
    expect((await cloud.api("GET", "/v1/core/affinity-groups", undefined, b.key)).json.affinity_groups).toEqual([]);
    expect((await cloud.api("GET", "/v1/api-key", undefined, b.key)).json.api_keys.map((k: any) => k.id)).toEqual([b.keyId]);
    // A itself still has all of it.
    expect((await cloud.api("GET", `/v1/core/virtual-machines/${vmId}`, undefined, a.key)).status).toBe(200);
    expect((await cloud.api("GET", `/v1/core/jobs/${jobId}`, undefined, a.key)).status).toBe(200);
  });

  it("a disabled account's keys are refused (403) and work again once enabled; deleting it is refused while it owns VMs", async () => {
    const a = await newAccount("switchable");
    const vm = await cloud.api("POST", "/v1/core/virtual-machines", { name: "keep", ...TINY }, a.key);
    expect(vm.status).toBe(200);
    expect((await cloud.api("POST", `/v1/admin/accounts/${a.id}/disable`)).json.account.disabled).toBe(true);
    expect((await cloud.api("GET", "/v1/core/virtual-machines", undefined, a.key)).status).toBe(403);
    expect((await cloud.api("POST", `/v1/admin/accounts/${a.id}/enable`)).status).toBe(200);
    expect((await cloud.api("GET", "/v1/core/virtual-machines", undefined, a.key)).status).toBe(200);

    const del = await cloud.api("DELETE", `/v1/admin/accounts/${a.id}`);
    expect(del.status).toBe(409);
    expect(del.json.message).toMatch(/owns 1 virtual machine/);
    expect((await cloud.api("GET", `/v1/admin/accounts/${a.id}`)).json.account.usage).toMatchObject({ vms: 1, vcpus: 1, memory_mib: 128 });
    const id = vm.json.instances[0].id as number;
    await cloud.waitFor("VM running", async () => (await cloud.api("GET", `/v1/core/virtual-machines/${id}`, undefined, a.key)).json.instance?.status === "ACTIVE");
    expect((await cloud.api("DELETE", `/v1/core/virtual-machines/${id}`, undefined, a.key)).status).toBe(200);
    await cloud.waitFor("VM gone", async () => (await cloud.api("GET", `/v1/core/virtual-machines/${id}`, undefined, a.key)).status === 404);
    expect((await cloud.api("DELETE", `/v1/admin/accounts/${a.id}`)).status).toBe(200);
    expect((await cloud.api("GET", "/v1/core/virtual-machines", undefined, a.key)).status).toBe(401);
    expect((await cloud.api("GET", `/v1/admin/accounts/${a.id}`)).status).toBe(404);
  });
});

describe("per-account limits", () => {
  it("a create past a limit is refused with the limit, usage and maximum, and changes nothing", async () => {
    const b = await newAccount("limited", { vms: 3 });
    expect((await cloud.api("POST", "/v1/core/virtual-machines", { name: "l", ...TINY, count: 2 }, b.key)).status).toBe(200);
    // Settled first: deploys still moving VMs through their states would change the digest.
    await jobsIdle(cloud);
    const before = await stateDigest(cloud);
    const r = await cloud.api("POST", "/v1/core/virtual-machines", { name: "m", ...TINY, count: 2 }, b.key);
    expect(r.status).toBe(403);
    expect(errorShapeProblems(r.status, r.json)).toEqual([]);
    expect(r.json).toMatchObject({ code: "forbidden", limit: { limit: "vms", usage: 2, requested: 2, max: 3 } });
    expect(r.json.message).toMatch(/vms in use 2 \+ requested 2 would exceed the limit of 3/);
    expect(await stateDigest(cloud)).toBe(before);

    await cloud.api("PUT", `/v1/admin/accounts/${b.id}`, { limits: { vms: null, memory_mib: 300 } });
    const mem = await cloud.api("POST", "/v1/core/virtual-machines", { name: "n", ...TINY }, b.key);
    expect(mem.status).toBe(403);
    expect(mem.json.limit).toEqual({ limit: "memory_mib", usage: 256, requested: 128, max: 300 });
    // Another account is not affected by B's limits.
    const other = await newAccount("unlimited");
    expect((await cloud.api("POST", "/v1/core/virtual-machines", { name: "o", ...TINY, count: 3 }, other.key)).status).toBe(200);
  });

  it("many concurrent creates against a small limit never overshoot; the other account's concurrent creates all commit", async () => {
    const small = await newAccount("small", { vcpus: 5 });
    const big = await newAccount("big");
    const calls = [
      ...Array.from({ length: 30 }, (_, i) => cloud.api("POST", "/v1/core/virtual-machines", { name: `s${i}`, ...TINY }, small.key)),
      ...Array.from({ length: 15 }, (_, i) => cloud.api("POST", "/v1/core/virtual-machines", { name: `b${i}`, ...TINY }, big.key)),
    ];
    const results = await Promise.all(calls);
    const mine = results.slice(0, 30);
    expect(mine.filter((r) => r.status === 200)).toHaveLength(5);
    for (const r of mine.filter((x) => x.status !== 200)) {
      expect(r.status).toBe(403);
      expect(r.json.limit).toEqual({ limit: "vcpus", usage: 5, requested: 1, max: 5 });
    }
    expect(results.slice(30).map((r) => r.status)).toEqual(Array(15).fill(200));
    expect(await liveVms(small.id)).toBe(5);
    expect(await liveVms(big.id)).toBe(15);
    expect((await cloud.api("GET", `/v1/admin/accounts/${small.id}`)).json.account.usage).toMatchObject({ vms: 5, vcpus: 5 });
  }, 60_000);
});
