// Group commits write every request's rows in one statement: each caller gets its own VMs and
// jobs, a request whose rows fail leaves nothing behind (the others still commit), a host that
// changed meanwhile makes the statement write nothing. PostgreSQL when TEST_DATABASE_URL is set,
// else PGlite.
import { randomUUID } from "node:crypto";
import { sql, type SQL } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { InsufficientCapacityError } from "#shared/errors.js";
import { buildPolicy, policyConfigFromSettings, type PlacementRequest } from "../allocator/index.js";
import { openTestDatabase, type Database } from "../db/database.js";
import { H100, seedFleet, sqlRows, type FixtureIds } from "./testing/placement-fixture.js";
import { prepareRows, writeRows, type CommitRows } from "./commit-rows.js";
import { PlacementService } from "./placement-service.js";

let database: Database;
let ids: FixtureIds;

async function rows<T>(q: SQL): Promise<T[]> {
  return sqlRows<T>(database.db, q);
}

beforeAll(async () => {
  database = await openTestDatabase();
  // 4 hosts of 64 CPUs / 256 GiB (2 GiB reserved), h1 and h2 with 4 H100 each.
  ids = await seedFleet(database.db, { hosts: 4, cpus: 64, memoryMib: 262144, reserveMib: 2048, gpuHosts: ["h1", "h2"], gpusPerHost: 4 });
}, 60_000);
afterAll(async () => { await database?.close(); });

const policy = buildPolicy(policyConfigFromSettings({ "vm.allocation.mode": "horizontal" }));

function request(k: number): PlacementRequest {
  const base = { accountId: String(ids.accountId), environment: "env" };
  switch (k % 3) {
    case 0: return { ...base, vcpus: 2, memoryMib: 2048, gpu: { kind: "passthrough", count: 1, models: [H100] } };
    case 1: return { ...base, vcpus: 1, memoryMib: 1024, count: 2 };
    default: return { ...base, vcpus: 1, memoryMib: 1024, gpu: { kind: "vgpu", vgpuType: "H100-20C", models: [H100] } };
  }
}

/** The caller's rows: VMs with uuids it chose, one deploy job each. */
function commitRows(uuids: string[], tag: string, accountId = ids.accountId): CommitRows {
  return {
    vm: (p) => ({
      uuid: uuids[p.index]!, name: `${tag}-${p.index}`, accountId, environmentId: ids.envId,
      flavorId: ids.flavorId, imageId: ids.imageId, labels: [tag], placement: { host: p.hostName },
    }),
    jobKind: "vm.deploy",
  };
}

async function vmRows(uuids: readonly string[]) {
  if (uuids.length === 0) return [];
  return rows<{ id: number; uuid: string; name: string; host_id: number; labels: string[]; job_id: number | null; job_kind: string | null;
    alloc_host: number | null; alloc_vcpus: number | null; gpus: string }>(sql`
    select v.id, v.uuid::text as uuid, v.name, v.host_id, v.labels, j.id as job_id, j.kind as job_kind,
           a.host_id as alloc_host, a.vcpus as alloc_vcpus, (select count(*) from gpu_allocations g where g.vm_id = v.id) as gpus
    from vms v left join jobs j on j.vm_id = v.id left join allocations a on a.vm_id = v.id
    where v.uuid::text in ${uuids}`);
}

async function totals() {
  const [t] = await rows<{ vms: string; allocs: string; jobs: string; gpus: string }>(sql`
    select (select count(*) from vms) as vms, (select count(*) from allocations) as allocs,
           (select count(*) from jobs) as jobs, (select count(*) from gpu_allocations) as gpus`);
  return { vms: Number(t!.vms), allocs: Number(t!.allocs), jobs: Number(t!.jobs), gpus: Number(t!.gpus) };
}

describe("group commit rows", () => {
  it("writes every request's rows in one group commit and answers each caller with its own VMs and jobs", async () => {
    const svc = new PlacementService({ db: database.db, policy: () => policy, maxBatch: 16 });
    const callers = Array.from({ length: 6 }, (_, k) => ({ k, uuids: [randomUUID(), randomUUID()] }));
    const before = await totals();
    const results = await Promise.all(callers.map((c) => svc.placeAndCommit(request(c.k), commitRows(c.uuids, `batch-${c.k}`))));
    expect(svc.stats).toMatchObject({ batches: 1, batchesRedone: 0, commits: 6 });
    let vms = 0;
    for (const [n, r] of results.entries()) {
      const c = callers[n]!;
      const want = request(c.k).count ?? 1;
      expect(r.vms.map((v) => v.index)).toEqual(Array.from({ length: want }, (_, i) => i));
      const db = await vmRows(r.vms.map((v) => v.uuid));
      expect(db).toHaveLength(want);
      for (const v of r.vms) {
        expect(v.uuid).toBe(c.uuids[v.index]);
        const row = db.find((x) => x.uuid === v.uuid)!;
        const p = r.plan.placements.find((x) => x.index === v.index)!;
        expect(row).toMatchObject({ id: v.id, name: `batch-${c.k}-${v.index}`, labels: [`batch-${c.k}`], job_kind: "vm.deploy" });
        expect(Number(row.job_id)).toBe(v.jobId);
        expect(row.host_id).toBe(Number(p.hostId));
        expect(row.alloc_host).toBe(Number(p.hostId));
        expect(row.alloc_vcpus).toBe(p.vcpus);
        expect(Number(row.gpus)).toBe(p.gpus.length);
      }
      vms += want;
    }
    const after = await totals();
    expect(after.vms - before.vms).toBe(vms);
    expect(after.allocs - before.allocs).toBe(vms);
    expect(after.jobs - before.jobs).toBe(vms);
    expect(after.gpus - before.gpus).toBe(4);
  }, 60_000);

  it("a request whose rows fail leaves no rows and takes no capacity; the others in its batch commit", async () => {
    const svc = new PlacementService({ db: database.db, policy: () => policy, maxBatch: 16 });
    const good = [0, 1, 2].map((k) => ({ k, uuids: [randomUUID(), randomUUID()] }));
    const bad = { k: 3, uuids: [randomUUID()] };
    const throwing = { k: 4, uuids: [randomUUID(), randomUUID()] };
    const before = await totals();
    const outcomes = await Promise.allSettled([
      ...good.map((c) => svc.placeAndCommit(request(c.k), commitRows(c.uuids, `good-${c.k}`))),
      // No such account: its VM row breaks a foreign key, so the group commit fails as a whole.
      svc.placeAndCommit(request(bad.k), commitRows(bad.uuids, "bad", 999_999)),
      // Its rows cannot even be built.
      svc.placeAndCommit(request(throwing.k), { vm: () => { throw new Error("no row for you"); } }),
    ]);
    expect(outcomes.slice(0, 3).map((o) => o.status)).toEqual(["fulfilled", "fulfilled", "fulfilled"]);
    expect(outcomes[3]!.status).toBe("rejected");
    expect(outcomes[4]).toMatchObject({ status: "rejected", reason: new Error("no row for you") });
    // The batch was redone one by one: the good requests committed alone.
    expect(svc.stats.batchesRedone).toBe(1);
    expect(await vmRows([...bad.uuids, ...throwing.uuids])).toHaveLength(0);
    const vms = good.reduce((s, c) => s + (request(c.k).count ?? 1), 0);
    const after = await totals();
    expect(after.vms - before.vms).toBe(vms);
    expect(after.allocs - before.allocs).toBe(vms);
    expect(after.jobs - before.jobs).toBe(vms);
    // No capacity leaked: allocations only for VMs that exist, and the cache agrees with PostgreSQL.
    const [orphans] = await rows<{ n: string }>(sql`select count(*) as n from allocations a left join vms v on v.id = a.vm_id where v.id is null`);
    expect(Number(orphans!.n)).toBe(0);
    const cached = await svc.cache.get("env");
    const fresh = await svc.cache.get("env", true);
    expect(cached.snapshot.hosts.map((h) => h.cpu.allocated)).toEqual(fresh.snapshot.hosts.map((h) => h.cpu.allocated));
  }, 60_000);

  it("runs `after` in the request's own transaction: when it throws, none of the request's rows stay", async () => {
    const svc = new PlacementService({ db: database.db, policy: () => policy });
    const uuids = [randomUUID(), randomUUID()];
    const before = await totals();
    let seen: number[] = [];
    await expect(svc.placeAndCommit(request(1), {
      ...commitRows(uuids, "after"),
      after: async (tx, created) => {
        seen = created.map((c) => c.id);
        const [n] = ((await tx.execute(sql`select count(*) as n from vms where id in ${seen}`)) as unknown as { rows: { n: string }[] }).rows;
        expect(Number(n!.n)).toBe(2);
        throw new Error("after failed");
      },
    })).rejects.toThrow("after failed");
    expect(seen).toHaveLength(2);
    expect(svc.stats.batches).toBe(0);
    expect(await totals()).toEqual(before);
  }, 60_000);

  it("writes nothing when a host is no longer at the expected generation", async () => {
    const [h] = await rows<{ id: number; generation: number }>(sql`select id, generation from hosts where name = 'h3'`);
    const plan = {
      placements: [{ index: 0, hostId: String(h!.id), hostName: "h3", vcpus: 1, memoryMib: 512, gpus: [], scores: [], total: 0 }],
      policy: "t", seed: 1, decidedAt: new Date(),
    };
    const uuid = randomUUID();
    const before = await totals();
    const stale = await writeRows(database.db, {
      hosts: [{ id: h!.id, generation: h!.generation + 1 }], token: 7, requests: [prepareRows(commitRows([uuid], "stale"), plan)],
    });
    expect(stale).toEqual({ refused: "host-generation" });
    expect(await totals()).toEqual(before);
    const [still] = await rows<{ generation: number }>(sql`select generation from hosts where id = ${h!.id}`);
    expect(still!.generation).toBe(h!.generation);
    const ok = await writeRows(database.db, {
      hosts: [{ id: h!.id, generation: h!.generation }], token: 7, requests: [prepareRows(commitRows([uuid], "fresh"), plan)],
    });
    expect("written" in ok && ok.written[0]).toEqual([{ index: 0, id: expect.any(Number), uuid, createdAt: expect.any(Date), jobId: expect.any(Number) }]);
    const [now] = await rows<{ generation: number }>(sql`select generation from hosts where id = ${h!.id}`);
    expect(now!.generation).toBe(7);
  }, 60_000);

  it("confirms a refusal on the hosts changed in PostgreSQL since the cached snapshot, not on the cached view", async () => {
    // A one-vCPU VM on every host, then a service that caches that.
    await rows(sql`
      with v as (
        insert into vms(uuid, name, account_id, environment_id, flavor_id, image_id, host_id, state, vcpus, memory_mib)
        select gen_random_uuid(), 'filler-' || h.id, ${ids.accountId}, ${ids.envId}, ${ids.flavorId}, ${ids.imageId}, h.id, 'Running', 1, 512
        from hosts h returning id, host_id)
      insert into allocations(vm_id, host_id, vcpus, memory_mib) select id, host_id, 1, 512 from v`);
    await rows(sql`update hosts set generation = generation + 1`);
    const svc = new PlacementService({ db: database.db, policy: () => policy });
    await svc.cache.get("env");
    const whole = { accountId: String(ids.accountId), environment: "env", vcpus: 64, memoryMib: 1024 };
    // Every host runs something by now: a whole host fits nowhere.
    await expect(svc.placeAndCommit(whole, commitRows([randomUUID()], "whole"))).rejects.toBeInstanceOf(InsufficientCapacityError);
    // h4 is emptied behind the service's back (as another manager's releases would: new generation).
    await rows(sql`delete from gpu_allocations where host_id = (select id from hosts where name = 'h4')`);
    await rows(sql`delete from allocations where host_id = (select id from hosts where name = 'h4')`);
    await rows(sql`update hosts set generation = generation + 1 where name = 'h4'`);
    const uuid = randomUUID();
    const r = await svc.placeAndCommit(whole, commitRows([uuid], "whole"));
    expect(r.plan.placements[0]!.hostName).toBe("h4");
    await expect(svc.placeAndCommit(whole, commitRows([randomUUID()], "whole"))).rejects.toBeInstanceOf(InsufficientCapacityError);
  }, 60_000);

  it("a full build that read PostgreSQL before some of this process's commits does not make later batches fail their check", async () => {
    const vertical = buildPolicy(policyConfigFromSettings({ "vm.allocation.mode": "vertical" }));
    const svc = new PlacementService({ db: database.db, policy: () => vertical });
    const small = { accountId: String(ids.accountId), environment: "env", vcpus: 1, memoryMib: 64 };
    await svc.placeAndCommit(small, commitRows([randomUUID()], "warm"));
    const old = await svc.cache.get("env");
    const stale = { snapshot: old.snapshot, generations: new Map(old.generations) };
    const buildStarted = Date.now();
    const first = await svc.placeAndCommit(small, commitRows([randomUUID()], "first"));
    // A full build that started before that commit and read the host before it lands now (as the
    // periodic background rebuild does): simulated by putting such an entry in the cache.
    (svc.cache as unknown as { entries: Map<string, unknown> }).entries.set("env", { ...stale, builtAt: buildStarted, dirty: new Set() });
    const second = await svc.placeAndCommit(small, commitRows([randomUUID()], "second"));
    expect(second.plan.placements[0]!.hostId).toBe(first.plan.placements[0]!.hostId);
    expect(svc.stats).toMatchObject({ commits: 3, batches: 3, batchesRedone: 0 });
  }, 60_000);
});
