// For placement tests against a real database: raw SQL rows, and a small fleet (one account,
// region, its environment, cluster, flavor and image; hosts h1..hN; some with H100s offering one vGPU type).
import { sql, type SQL } from "drizzle-orm";
import type { Db } from "../../db/database.js";

export const H100 = "NVIDIA H100 80GB HBM3";

/** Runs raw SQL and answers its rows. */
export async function sqlRows<T>(db: Db, q: SQL): Promise<T[]> {
  return ((await db.execute(q)) as unknown as { rows: T[] }).rows;
}

export interface FixtureIds {
  accountId: number;
  envId: number;
  flavorId: number;
  imageId: number;
}

/** Account "t", region "env" with cluster "c" and the account's environment "env", flavor "f", image "i". */
export async function seedBasics(db: Db): Promise<FixtureIds> {
  const [a] = await sqlRows<{ id: number }>(db, sql`insert into accounts(name) values ('t') returning id`);
  const [r] = await sqlRows<{ id: number }>(db, sql`insert into regions(name) values ('env') returning id`);
  const [e] = await sqlRows<{ id: number }>(db, sql`insert into environments(name, account_id, region_id) values ('env', ${a!.id}, ${r!.id}) returning id`);
  await sqlRows(db, sql`insert into clusters(name, region_id) values ('c', ${r!.id})`);
  const [f] = await sqlRows<{ id: number }>(db, sql`insert into flavors(name, vcpus, memory_mib) values ('f', 1, 1) returning id`);
  const [i] = await sqlRows<{ id: number }>(db, sql`insert into images(name) values ('i') returning id`);
  return { accountId: a!.id, envId: e!.id, flavorId: f!.id, imageId: i!.id };
}

export interface FixtureFleet {
  hosts: number;
  cpus: number;
  memoryMib: number;
  /** Host memory reserve. */
  reserveMib: number;
  /** Hosts (by name) with `gpusPerHost` H100s, each offering vGPU type H100-20C x 4. */
  gpuHosts: readonly string[];
  gpusPerHost: number;
}

/** The basics, then hosts h1..hN (Up, simulator driver, one NUMA cell of 16 CPUs) in cluster "c". */
export async function seedFleet(db: Db, f: FixtureFleet): Promise<FixtureIds> {
  const ids = await seedBasics(db);
  const numa = JSON.stringify([{ id: 0, cpus: Array.from({ length: 16 }, (_, i) => i), memoryMib: f.memoryMib }]);
  await sqlRows(db, sql`
    insert into hosts(uuid, name, cluster_id, state, hypervisor, driver, sockets, cores_per_socket, threads_per_core,
                      cpus, memory_mib, memory_reserve_mib, numa_cells, secret_hash)
    select gen_random_uuid(), 'h' || n, (select id from clusters), 'Up', 'KVM', 'simulator', 1, ${f.cpus}, 1, ${f.cpus},
           ${f.memoryMib}, ${f.reserveMib}, ${numa}::jsonb, 'x'
    from generate_series(1, ${f.hosts}) n`);
  await sqlRows(db, sql`
    insert into gpus(host_id, pci_address, model, memory_mib, numa_node, vgpu_types)
    select h.id, '0000:1' || g || ':00.0', ${H100}, 81559, 0,
           '[{"typeId":"a","name":"H100-20C","availableInstances":4,"maxInstances":4,"framebufferMib":20480}]'::jsonb
    from hosts h cross join generate_series(0, ${f.gpusPerHost - 1}) g where h.name in (${sql.join(f.gpuHosts.map((n) => sql`${n}`), sql`, `)})`);
  return ids;
}
