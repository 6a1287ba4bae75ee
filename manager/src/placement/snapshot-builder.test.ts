// The snapshot carries the fleet's GPU workload (GPU flavors weighted by their running VMs) for the
// gpu-fragmentation scorer. PostgreSQL when TEST_DATABASE_URL is set, else PGlite.
import { sql, type SQL } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openTestDatabase, type Database } from "../db/database.js";
import { buildSnapshot, loadGpuWorkload } from "./snapshot-builder.js";
import { seedBasics, sqlRows } from "./testing/placement-fixture.js";

let database: Database;

async function rows<T>(q: SQL): Promise<T[]> {
  return sqlRows<T>(database.db, q);
}

beforeAll(async () => {
  database = await openTestDatabase();
  const ids = await seedBasics(database.db);
  await rows(sql`insert into flavors(name, vcpus, memory_mib) values ('cpu', 4, 8192)`);
  await rows(sql`insert into flavors(name, vcpus, memory_mib, gpu_model, gpu_count) values ('h100x8', 96, 1048576, 'H100', 8)`);
  await rows(sql`insert into flavors(name, vcpus, memory_mib, gpu_count) values ('anyx1', 12, 131072, 1)`);
  await rows(sql`insert into flavors(name, vcpus, memory_mib, gpu_share_milli) values ('half', 4, 16384, 500)`);
  await rows(sql`insert into flavors(name, vcpus, memory_mib, gpu_model, vgpu_type) values ('vgpu', 4, 16384, 'H100', 'H100-20C')`);
  await rows(sql`insert into hosts(uuid, name, cluster_id, state, hypervisor, driver, sockets, cores_per_socket, threads_per_core,
                                   cpus, memory_mib, memory_reserve_mib, numa_cells, secret_hash)
                 values (gen_random_uuid(), 'g1', (select id from clusters), 'Up', 'KVM', 'simulator', 1, 16, 1, 16, 32768, 0, '[]'::jsonb, 'x'),
                        (gen_random_uuid(), 'c1', (select id from clusters), 'Up', 'KVM', 'simulator', 1, 16, 1, 16, 32768, 0, '[]'::jsonb, 'x')`);
  await rows(sql`insert into gpus(host_id, pci_address, model, memory_mib, numa_node) select id, '0000:10:00.0', 'H100', 81559, 0 from hosts where name = 'g1'`);
  // Two live VMs of the 1-GPU flavor, one deleted VM of the share flavor.
  for (const [flavor, deleted] of [["anyx1", false], ["anyx1", false], ["half", true]] as const) {
    await rows(sql`insert into vms(uuid, name, account_id, environment_id, flavor_id, image_id, state, vcpus, memory_mib, deleted_at)
                   values (gen_random_uuid(), 'vm', ${ids.accountId}, ${ids.envId}, (select id from flavors where name = ${flavor}), ${ids.imageId}, 'Running', 1, 1,
                           ${deleted ? sql`now()` : sql`null`})`);
  }
}, 60_000);
afterAll(async () => { await database?.close(); });

describe("GPU workload in the snapshot", () => {
  it("lists passthrough and share flavors weighted by 1 + their live VMs, not CPU or vGPU flavors", async () => {
    const workload = await loadGpuWorkload(database.db);
    expect(workload.sort((x, y) => x.vcpus - y.vcpus)).toEqual([
      { vcpus: 4, memoryMib: 16384, gpuCount: 1, gpuMilli: 500, weight: 1 },
      { vcpus: 12, memoryMib: 131072, gpuCount: 1, gpuMilli: 1000, weight: 3 },
      { vcpus: 96, memoryMib: 1048576, gpuCount: 8, gpuMilli: 1000, models: ["H100"], weight: 1 },
    ]);
  });

  it("travels in the environment's snapshot when it has GPU hosts", async () => {
    const snap = await buildSnapshot(database.db, { environment: "env" });
    expect(snap.hosts.map((h) => h.name).sort()).toEqual(["c1", "g1"]);
    expect(snap.gpuWorkload).toHaveLength(3);
    const cpuOnly = await buildSnapshot(database.db, { hostIds: [Number(snap.hosts.find((h) => h.name === "c1")!.id)] });
    expect(cpuOnly.gpuWorkload).toBeUndefined();
  });
});

describe("running migrations' reservations", () => {
  it("count as used on their destination until they end", async () => {
    const vm = (await rows<{ id: number }>(sql`select id from vms where deleted_at is null limit 1`))[0]!;
    const hostId = async (n: string) => (await rows<{ id: number }>(sql`select id from hosts where name = ${n}`))[0]!.id;
    const c1 = async () => (await buildSnapshot(database.db, { environment: "env" })).hosts.find((h) => h.name === "c1")!;
    const before = await c1();
    await rows(sql`insert into vm_migrations(vm_id, source_host_id, destination_host_id, mode, reserved_vcpus, reserved_memory_mib, state)
                   values (${vm.id}, ${await hostId("g1")}, ${await hostId("c1")}, 'live', 6, 8192, 'running'),
                          (${vm.id}, ${await hostId("g1")}, ${await hostId("c1")}, 'live', 3, 1024, 'succeeded')`);
    const during = await c1();
    expect(during.cpu.allocated - before.cpu.allocated).toBe(6);
    expect(during.memory.allocatedMib - before.memory.allocatedMib).toBe(8192);
    await rows(sql`update vm_migrations set state = 'cancelled' where state = 'running'`);
    expect((await c1()).cpu.allocated).toBe(before.cpu.allocated);
  });
});
