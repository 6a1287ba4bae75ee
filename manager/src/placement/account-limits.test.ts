// Per-account limits checked with the placement commit: concurrent creates through the group
// commit and the one-by-one path never take an account past a limit, a refusal names the limit,
// the usage and the maximum, leaves nothing behind, and does not fail other accounts' requests
// of the same batch. PostgreSQL when TEST_DATABASE_URL is set, else PGlite.
import { randomUUID } from "node:crypto";
import { sql, type SQL } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AccountLimitError } from "#shared/errors.js";
import { buildPolicy, policyConfigFromSettings, type PlacementRequest } from "../allocator/index.js";
import { openTestDatabase, type Database } from "../db/database.js";
import { accountDemands, accountUsage, firstBreach } from "./account-limits.js";
import type { CommitRows } from "./commit-rows.js";
import { PlacementService } from "./placement-service.js";
import { H100, seedFleet, sqlRows, type FixtureIds } from "./testing/placement-fixture.js";

let database: Database;
let ids: FixtureIds;

async function rows<T>(q: SQL): Promise<T[]> {
  return sqlRows<T>(database.db, q);
}

beforeAll(async () => {
  database = await openTestDatabase();
  ids = await seedFleet(database.db, { hosts: 4, cpus: 64, memoryMib: 262144, reserveMib: 2048, gpuHosts: ["h1", "h2"], gpusPerHost: 4 });
}, 60_000);
afterAll(async () => { await database?.close(); });

const policy = buildPolicy(policyConfigFromSettings({ "vm.allocation.mode": "horizontal" }));

async function newAccount(name: string, limits: { vms?: number; vcpus?: number; memoryMib?: number; gpus?: number } = {}): Promise<number> {
  const [a] = await rows<{ id: number }>(sql`
    insert into accounts(name, max_vms, max_vcpus, max_memory_mib, max_gpus)
    values (${name}, ${limits.vms ?? null}, ${limits.vcpus ?? null}, ${limits.memoryMib ?? null}, ${limits.gpus ?? null}) returning id`);
  return a!.id;
}

function create(svc: PlacementService, accountId: number, req: Partial<PlacementRequest> = {}) {
  const count = req.count ?? 1;
  const uuids = Array.from({ length: count }, () => randomUUID());
  const rowsOf: CommitRows = {
    vm: (p) => ({ uuid: uuids[p.index]!, name: `vm-${p.index}`, accountId, environmentId: ids.envId, flavorId: ids.flavorId, imageId: ids.imageId }),
    jobKind: "vm.deploy",
  };
  return svc.placeAndCommit({ accountId: String(accountId), environment: "env", vcpus: 1, memoryMib: 1024, ...req }, rowsOf);
}

async function usage(accountId: number) {
  const [u] = await rows<{ vms: string; vcpus: string; gpus: string; jobs: string; orphans: string }>(sql`
    select (select count(*) from vms where account_id = ${accountId}) as vms,
           (select coalesce(sum(a.vcpus), 0) from allocations a join vms v on v.id = a.vm_id where v.account_id = ${accountId}) as vcpus,
           (select count(*) from gpu_allocations g join vms v on v.id = g.vm_id where v.account_id = ${accountId}) as gpus,
           (select count(*) from jobs where account_id = ${accountId}) as jobs,
           (select count(*) from allocations a left join vms v on v.id = a.vm_id where v.id is null) as orphans`);
  return { vms: Number(u!.vms), vcpus: Number(u!.vcpus), gpus: Number(u!.gpus), jobs: Number(u!.jobs), orphans: Number(u!.orphans) };
}

describe("account limits", () => {
  it("firstBreach names the first limit passed; null is unlimited and a zero demand never breaks one", () => {
    const none = { vms: null, vcpus: null, memoryMib: null, gpus: null };
    const used = { vms: 2, vcpus: 8, memoryMib: 4096, gpus: 1 };
    expect(firstBreach(none, used, { vms: 100, vcpus: 100, memoryMib: 1e9, gpus: 100 })).toBeUndefined();
    expect(firstBreach({ ...none, vcpus: 10 }, used, { vms: 1, vcpus: 2, memoryMib: 1, gpus: 0 })).toBeUndefined();
    expect(firstBreach({ ...none, vcpus: 10 }, used, { vms: 1, vcpus: 3, memoryMib: 1, gpus: 0 }))
      .toEqual({ limit: "vcpus", usage: 8, requested: 3, max: 10 });
    expect(firstBreach({ ...none, gpus: 0 }, used, { vms: 1, vcpus: 1, memoryMib: 1, gpus: 0 })).toBeUndefined();
  });

  it("accountDemands sums VMs, vCPUs, memory and GPU rows per account", () => {
    const d = accountDemands([
      { vms: [{ uuid: "a", account_id: 1, vcpus: 2, memory_mib: 1024 }, { uuid: "b", account_id: 1, vcpus: 2, memory_mib: 1024 }], gpus: [{ uuid: "a" }, { uuid: "a" }], index: new Map() },
      { vms: [{ uuid: "c", account_id: 2, vcpus: 4, memory_mib: 512 }], gpus: [], index: new Map() },
    ]);
    expect(d.get(1)).toEqual({ vms: 2, vcpus: 4, memoryMib: 2048, gpus: 2 });
    expect(d.get(2)).toEqual({ vms: 1, vcpus: 4, memoryMib: 512, gpus: 0 });
  });

  for (const groupCommit of [true, false]) {
    it(`concurrent creates never pass a VM limit (${groupCommit ? "group commit" : "one by one"}); another account's creates in the same batches all commit`, async () => {
      const limited = await newAccount(`limited-${groupCommit}`, { vms: 5 });
      const free = await newAccount(`free-${groupCommit}`);
      const svc = new PlacementService({ db: database.db, policy: () => policy, groupCommit, maxBatch: 32 });
      const outcomes = await Promise.allSettled([
        ...Array.from({ length: 20 }, () => create(svc, limited)),
        ...Array.from({ length: 10 }, () => create(svc, free)),
      ]);
      const mine = outcomes.slice(0, 20);
      expect(mine.filter((o) => o.status === "fulfilled")).toHaveLength(5);
      for (const o of mine.filter((x) => x.status === "rejected")) {
        const e = (o as PromiseRejectedResult).reason as unknown;
        expect(e).toBeInstanceOf(AccountLimitError);
        expect((e as AccountLimitError).breach).toEqual({ limit: "vms", usage: 5, requested: 1, max: 5 });
        expect((e as AccountLimitError).message).toMatch(/vms in use 5 \+ requested 1 would exceed the limit of 5/);
      }
      expect(outcomes.slice(20).every((o) => o.status === "fulfilled")).toBe(true);
      expect(await usage(limited)).toMatchObject({ vms: 5, vcpus: 5, jobs: 5, orphans: 0 });
      expect((await usage(free)).vms).toBe(10);
      // No capacity leaked in the cache either: it agrees with PostgreSQL.
      const cached = await svc.cache.get("env");
      const fresh = await svc.cache.get("env", true);
      expect(cached.snapshot.hosts.map((h) => h.cpu.allocated)).toEqual(fresh.snapshot.hosts.map((h) => h.cpu.allocated));
    }, 60_000);
  }

  it("the usage kept by triggers (account_usage_deltas) equals what the account's rows hold, through creates, resizes, releases and deletes", async () => {
    const acct = await newAccount("kept-usage", { vms: 100 });
    const svc = new PlacementService({ db: database.db, policy: () => policy });
    const counted = async () => {
      const [u] = await rows<{ vms: string; vcpus: string; memory_mib: string; gpus: string }>(sql`
        select (select count(*) from vms where account_id = ${acct} and deleted_at is null) as vms,
               (select coalesce(sum(a.vcpus), 0) from allocations a join vms v on v.id = a.vm_id where v.account_id = ${acct}) as vcpus,
               (select coalesce(sum(a.memory_mib), 0) from allocations a join vms v on v.id = a.vm_id where v.account_id = ${acct}) as memory_mib,
               (select count(*) from gpu_allocations g join vms v on v.id = g.vm_id where v.account_id = ${acct}) as gpus`);
      return { vms: Number(u!.vms), vcpus: Number(u!.vcpus), memoryMib: Number(u!.memory_mib), gpus: Number(u!.gpus) };
    };
    const kept = async () => (await accountUsage(database.db, [acct])).get(acct) ?? { vms: 0, vcpus: 0, memoryMib: 0, gpus: 0 };
    await create(svc, acct, { vcpus: 2, memoryMib: 2048, count: 3 });
    await create(svc, acct, { gpu: { kind: "passthrough", count: 2, models: [H100] } });
    expect(await kept()).toEqual({ vms: 4, vcpus: 7, memoryMib: 2048 * 3 + 1024, gpus: 2 });
    const [first] = await rows<{ id: number }>(sql`select id from vms where account_id = ${acct} order by id limit 1`);
    await rows(sql`update allocations set vcpus = 4, memory_mib = 4096 where vm_id = ${first!.id}`);
    await rows(sql`update allocations set numa_node = 0 where vm_id = ${first!.id}`);
    expect(await kept()).toEqual(await counted());
    // A limit check folds the rows into one and still reads the same.
    await create(svc, acct);
    expect(await kept()).toEqual(await counted());
    expect(Number((await rows<{ n: string }>(sql`select count(*) as n from account_usage_deltas where account_id = ${acct}`))[0]!.n)).toBeLessThanOrEqual(3);
    await rows(sql`delete from gpu_allocations where vm_id in (select id from vms where account_id = ${acct})`);
    await rows(sql`delete from allocations where vm_id = ${first!.id}`);
    await rows(sql`update vms set state = 'Destroyed', deleted_at = now() where id = ${first!.id}`);
    await rows(sql`update vms set state = 'Stopped' where account_id = ${acct} and deleted_at is null`);
    expect(await kept()).toEqual(await counted());
    expect(await kept()).toMatchObject({ vms: 4, gpus: 0 });
  }, 60_000);

  it("a create for an account deleted meanwhile is refused on both paths and writes nothing", async () => {
    const gone = await newAccount("deleted-meanwhile");
    await rows(sql`update accounts set deleted_at = now() where id = ${gone}`);
    for (const groupCommit of [true, false]) {
      const svc = new PlacementService({ db: database.db, policy: () => policy, groupCommit });
      await expect(create(svc, gone)).rejects.toMatchObject({ code: "forbidden", message: expect.stringMatching(/was deleted/) });
    }
    expect(await usage(gone)).toMatchObject({ vms: 0, jobs: 0, orphans: 0 });
  }, 60_000);

  it("checks vCPUs, memory and GPUs; count is all or none; releasing a VM frees its share", async () => {
    const acct = await newAccount("mixed", { vcpus: 8, memoryMib: 8192, gpus: 2 });
    const svc = new PlacementService({ db: database.db, policy: () => policy });
    await create(svc, acct, { vcpus: 4, memoryMib: 2048, count: 2 });
    await expect(create(svc, acct, { vcpus: 1, memoryMib: 1024 })).rejects.toMatchObject({ breach: { limit: "vcpus", usage: 8, requested: 1, max: 8 } });
    await rows(sql`update accounts set max_vcpus = null where id = ${acct}`);
    await expect(create(svc, acct, { vcpus: 1, memoryMib: 4097 + 1024 })).rejects.toMatchObject({ breach: { limit: "memory_mib", usage: 4096, max: 8192 } });
    const gpu = { kind: "passthrough", count: 3, models: [H100] } as const;
    await expect(create(svc, acct, { gpu })).rejects.toMatchObject({ breach: { limit: "gpus", usage: 0, requested: 3, max: 2 } });
    await expect(create(svc, acct, { gpu: { ...gpu, count: 1 }, count: 3 })).rejects.toMatchObject({ breach: { limit: "gpus", requested: 3 } });
    expect(await usage(acct)).toMatchObject({ vms: 2, vcpus: 8, gpus: 0, jobs: 2 });
    await create(svc, acct, { gpu: { ...gpu, count: 2 } });
    expect((await usage(acct)).gpus).toBe(2);
    // Freeing: a deleted VM's allocations are gone and it no longer counts.
    await rows(sql`delete from gpu_allocations where vm_id in (select id from vms where account_id = ${acct})`);
    await rows(sql`delete from allocations where vm_id in (select id from vms where account_id = ${acct})`);
    await rows(sql`update vms set state = 'Destroyed', deleted_at = now() where account_id = ${acct}`);
    svc.invalidate();
    await create(svc, acct, { gpu: { ...gpu, count: 2 } });
  }, 60_000);
});
