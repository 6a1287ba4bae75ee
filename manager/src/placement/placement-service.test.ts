// Several PlacementService instances (as several managers would have, each with its own snapshot
// cache) place into the same nearly full hosts at once, with and without group commit, in
// vertical mode so that they all want the same host. Afterwards the database shows no host or
// GPU over-committed and every request either committed whole or refused. PostgreSQL when
// TEST_DATABASE_URL is set, else PGlite.
import { randomUUID } from "node:crypto";
import { sql, type SQL } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { InsufficientCapacityError } from "#shared/errors.js";
import { buildPolicy, policyConfigFromSettings, type PlacementRequest } from "../allocator/index.js";
import { openTestDatabase, type Database } from "../db/database.js";
import { H100, seedFleet, sqlRows, type FixtureIds } from "./testing/placement-fixture.js";
import { PlacementService } from "./placement-service.js";

let database: Database;
let ids: FixtureIds;

async function rows<T>(q: SQL): Promise<T[]> {
  return sqlRows<T>(database.db, q);
}

beforeAll(async () => {
  database = await openTestDatabase();
  // 6 hosts of 16 CPUs / 32 GiB (2 GiB reserved), h3 and h4 with 2 H100 each.
  ids = await seedFleet(database.db, { hosts: 6, cpus: 16, memoryMib: 32768, reserveMib: 2048, gpuHosts: ["h3", "h4"], gpusPerHost: 2 });
}, 60_000);
afterAll(async () => { await database?.close(); });

function request(k: number): PlacementRequest {
  const base = { accountId: String(ids.accountId), environment: "env" };
  switch (k % 4) {
    case 0: return { ...base, vcpus: 2, memoryMib: 2048, gpu: { kind: "passthrough", count: 1, models: [H100] } };
    case 1: return { ...base, vcpus: 1, memoryMib: 1024, gpu: { kind: "vgpu", vgpuType: "H100-20C", models: [H100] } };
    case 2: return { ...base, vcpus: 2, memoryMib: 4096, count: 2 };
    default: return { ...base, vcpus: 3, memoryMib: 2048 };
  }
}

describe("PlacementService under concurrency from several instances", () => {
  it("never over-commits a host or a GPU", async () => {
    const policy = buildPolicy(policyConfigFromSettings({
      "vm.allocation.mode": "vertical",
      "cluster.cpu.allocated.capacity.disablethreshold": 1,
      "cluster.memory.allocated.capacity.disablethreshold": 1,
    }));
    const services = [
      new PlacementService({ db: database.db, policy: () => policy }),
      new PlacementService({ db: database.db, policy: () => policy, maxBatch: 4 }),
      new PlacementService({ db: database.db, policy: () => policy, groupCommit: false }),
    ];
    const outcomes = await Promise.allSettled(Array.from({ length: 60 }, (_, k) => {
      const svc = services[k % services.length]!;
      const req = request(k);
      return svc.placeAndCommit(req, {
        vm: (p) => ({
          uuid: randomUUID(), name: `vm-${k}-${p.index}`, accountId: ids.accountId, environmentId: ids.envId,
          flavorId: ids.flavorId, imageId: ids.imageId,
        }),
      }).then((c) => ({ result: c.vms.length }));
    }));
    let placedVms = 0;
    for (const o of outcomes) {
      if (o.status === "fulfilled") placedVms += o.value.result;
      else expect(o.reason).toBeInstanceOf(InsufficientCapacityError);
    }
    // Demand (15 passthrough GPUs + 15 vGPUs on 4 GPUs, 150 vCPUs on 96 CPUs) exceeds supply.
    expect(outcomes.some((o) => o.status === "rejected")).toBe(true);
    expect(placedVms).toBeGreaterThan(0);

    const [vmCount] = await rows<{ n: string }>(sql`select count(*) as n from vms`);
    expect(Number(vmCount!.n)).toBe(placedVms);
    const [orphans] = await rows<{ n: string }>(sql`
      select count(*) as n from vms v left join allocations a on a.vm_id = v.id where a.id is null`);
    expect(Number(orphans!.n)).toBe(0);
    const hostsUse = await rows<{ name: string; cpus: number; mem: string; vcpus: string; used: string }>(sql`
      select h.name, h.cpus, h.memory_mib - h.memory_reserve_mib as mem,
             coalesce(sum(a.vcpus), 0) as vcpus, coalesce(sum(a.memory_mib), 0) as used
      from hosts h left join allocations a on a.host_id = h.id group by h.id`);
    for (const h of hostsUse) {
      expect(Number(h.vcpus), h.name).toBeLessThanOrEqual(h.cpus);
      expect(Number(h.used), h.name).toBeLessThanOrEqual(Number(h.mem));
    }
    const gpuUse = await rows<{ gpu_id: number; pt: string; vg: string }>(sql`
      select gpu_id, count(*) filter (where mode = 'passthrough') as pt, count(*) filter (where mode = 'vgpu') as vg
      from gpu_allocations group by gpu_id`);
    for (const g of gpuUse) {
      if (Number(g.pt) > 0) expect(Number(g.pt) + Number(g.vg), `GPU ${g.gpu_id}`).toBe(1);
      expect(Number(g.vg), `GPU ${g.gpu_id}`).toBeLessThanOrEqual(4);
    }
    // Every instance committed something, so the cross-instance checks were exercised.
    for (const s of services) expect(s.stats.commits).toBeGreaterThan(0);
  }, 120_000);
});
