// Committed placements per second through PostgreSQL: 16 concurrent clients call
// PlacementService.placeAndCommit directly (no HTTP) on a fleet inserted straight into a fresh
// database, against this machine's own PostgreSQL write rate measured in the same run.
//   npx tsx bench/placement/commit-rate.ts [--url postgres://postgres@127.0.0.1:5432/postgres]
//     [--hosts 1000] [--clients 16] [--seconds 10] [--batch 16] [--in-flight 4] [--pgbench true|false] [--keep false]
// It creates (and drops) its own databases. Rows written per placement, as VmService does:
// one VM, one deploy job, one allocation (+ GPU allocations), the host's generation bump.
import { randomUUID } from "node:crypto";
import os from "node:os";
import { sql } from "drizzle-orm";
import { execa } from "execa";
import pg from "pg";
import { buildPolicy, policyConfigFromSettings, type AllocationPolicy, type PlacementRequest } from "../../manager/src/allocator/index.js";
import { openDatabase, type Database } from "../../manager/src/db/database.js";
import { PlacementService } from "../../manager/src/placement/placement-service.js";

function arg(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : dflt;
}

const BASE = arg("url", process.env.BENCH_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/postgres");
const HOSTS = Number(arg("hosts", "1000"));
const CLIENTS = Number(arg("clients", "16"));
const SECONDS = Number(arg("seconds", "10"));
const PGBENCH = arg("pgbench", "true") === "true";
/** Most requests per group commit, and group commits in flight at once. */
const BATCH = Number(arg("batch", "16"));
const IN_FLIGHT = Number(arg("in-flight", "4"));
/** Keep the benchmark database afterwards (to inspect or profile it). */
const KEEP = arg("keep", "false") === "true";
const VMS_PER_HOST = 5;
const H100 = "NVIDIA H100 80GB HBM3";

function dbUrl(name: string): string {
  const u = new URL(BASE);
  u.pathname = `/${name}`;
  return u.toString();
}

async function admin<T>(fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: BASE });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

async function createDb(name: string): Promise<void> {
  await admin(async (c) => {
    await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await c.query(`CREATE DATABASE ${name}`);
  });
}

async function dropDb(name: string): Promise<void> {
  await admin((c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));
}

/** One GPU host in five (8 x H100 with two vGPU profiles), the rest CPU hosts; 5 VMs on each. */
async function seedFleet(url: string): Promise<{ accountId: number; envId: number; flavorId: number; imageId: number }> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    const q = (s: string, p: unknown[] = []) => c.query(s, p);
    const account = await q(`insert into accounts(name) values ('bench') returning id`);
    const accountId = account.rows[0].id as number;
    const region = await q(`insert into regions(name) values ('bench') returning id`);
    const regionId = region.rows[0].id as number;
    const env = await q(`insert into environments(name, account_id, region_id) values ('bench', $1, $2) returning id`, [accountId, regionId]);
    const envId = env.rows[0].id as number;
    for (let k = 0; k < 4; k++) {
      const cluster = await q(`insert into clusters(name, region_id) values ($1, $2) returning id`, [`c${k}`, regionId]);
      // Each cluster's local pool: a commit reserves every VM's root disk in it (storage/root-disks.ts).
      await q(`insert into storage_pools(name, cluster_id, kind, path, capacity_gib) values ($1, $2, 'local', 'volumes', 100000000)`, [`c${k}-local`, cluster.rows[0].id]);
    }
    const flavor = await q(`insert into flavors(name, vcpus, memory_mib, disk_gib) values ('bench', 2, 4096, 20) returning id`);
    const image = await q(`insert into images(name) values ('bench') returning id`);
    // Hosts: cluster by id, GPU host every fifth.
    await q(`
      insert into hosts(uuid, name, cluster_id, state, hypervisor, driver, cpu_model, sockets, cores_per_socket,
                        threads_per_core, cpus, memory_mib, memory_reserve_mib, numa_cells, tags, secret_hash)
      select gen_random_uuid(), 'h' || i, (select min(id) from clusters) + (i % 4), 'Up', 'KVM', 'simulator', 'AMD EPYC 9654',
             2, 64, 1, 128, 1048576, 4096,
             jsonb_build_array(
               jsonb_build_object('id', 0, 'cpus', (select jsonb_agg(x) from generate_series(0, 63) x), 'memoryMib', 524288),
               jsonb_build_object('id', 1, 'cpus', (select jsonb_agg(x) from generate_series(64, 127) x), 'memoryMib', 524288)),
             case when i % 5 = 0 then array['gpu'] else array[]::text[] end, 'x'
      from generate_series(1, $1) i`, [HOSTS]);
    await q(`
      insert into gpus(host_id, pci_address, model, memory_mib, numa_node, vgpu_types)
      select h.id, '0000:' || lpad(to_hex(24 + g), 2, '0') || ':00.0', $1, 81559, g / 4,
             '[{"typeId":"nvidia-700","name":"H100-20C","availableInstances":4,"maxInstances":4,"framebufferMib":20480},
               {"typeId":"nvidia-701","name":"H100-40C","availableInstances":2,"maxInstances":2,"framebufferMib":40960}]'::jsonb
      from hosts h cross join generate_series(0, 7) g where 'gpu' = any(h.tags)`, [H100]);
    // Existing load: VMS_PER_HOST small VMs on every host.
    await q(`
      insert into vms(uuid, name, account_id, environment_id, flavor_id, image_id, host_id, state, vcpus, memory_mib)
      select gen_random_uuid(), 'pre-' || h.id || '-' || k, $1, $2, $3, $4, h.id, 'Running', 2, 4096
      from hosts h cross join generate_series(1, $5) k`, [accountId, envId, flavor.rows[0].id, image.rows[0].id, VMS_PER_HOST]);
    await q(`insert into allocations(vm_id, host_id, vcpus, memory_mib) select id, host_id, vcpus, memory_mib from vms`);
    await q(`analyze`);
    return { accountId, envId, flavorId: flavor.rows[0].id, imageId: image.rows[0].id };
  } finally {
    await c.end();
  }
}

/** The request mix: mostly CPU VMs, some vGPU and single-GPU VMs. */
function request(i: number, accountId: number): PlacementRequest {
  const base = { accountId: String(accountId % 50 + 1), environment: "bench", osType: "linux" };
  switch (i % 10) {
    case 0: return { ...base, vcpus: 8, memoryMib: 32768, gpu: { kind: "vgpu", vgpuType: "H100-20C", models: [H100] } };
    case 5: return { ...base, vcpus: 16, memoryMib: 65536, gpu: { kind: "passthrough", count: 1, models: [H100] } };
    default: return { ...base, vcpus: 2 + (i % 3) * 2, memoryMib: 4096 * (1 + (i % 3)) };
  }
}

interface RateResult { label: string; ops: number; seconds: number; rate: number; extra?: string }

/** Runs `clients` loops of `op` for `seconds`; counts successful ops. */
async function loop(label: string, clients: number, seconds: number, op: (client: number, i: number) => Promise<boolean>): Promise<RateResult> {
  const end = Date.now() + seconds * 1000;
  let ops = 0;
  let failed = 0;
  const start = process.hrtime.bigint();
  await Promise.all(Array.from({ length: clients }, async (_, client) => {
    for (let i = 0; Date.now() < end; i++) {
      if (await op(client, i * clients + client)) ops++;
      else failed++;
    }
  }));
  const secs = Number(process.hrtime.bigint() - start) / 1e9;
  return { label, ops, seconds: secs, rate: ops / secs, ...(failed ? { extra: `${failed} failed` } : {}) };
}

/** Removes what the previous run placed, so each run starts from the same fleet. */
async function resetFleet(database: Database): Promise<void> {
  await database.db.execute(sql`delete from gpu_allocations`);
  await database.db.execute(sql`delete from allocations where vm_id in (select id from vms where name like 'b-%')`);
  await database.db.execute(sql`delete from jobs`);
  await database.db.execute(sql`delete from vms where name like 'b-%'`);
  await database.db.execute(sql`update hosts set generation = 0`);
  await database.db.execute(sql`vacuum analyze`);
}

async function placementRun(
  database: Database, policy: AllocationPolicy, seeded: Awaited<ReturnType<typeof seedFleet>>,
  label: string, opts: { cacheSnapshots?: boolean; groupCommit?: boolean; seconds: number },
): Promise<RateResult> {
  await resetFleet(database);
  const service = new PlacementService({
    db: database.db, policy: () => policy, cacheSnapshots: opts.cacheSnapshots ?? true, groupCommit: opts.groupCommit ?? true,
    maxBatch: BATCH, maxBatchesInFlight: IN_FLIGHT,
  });
  let rejected = 0;
  // The fleet runs out of GPUs after ~9,400 placements (1,600 GPUs, 2 requests in 10 want one):
  // past that GPU requests are refused and only CPU ones commit. Where that happened, and the
  // rate until then.
  let placed = 0;
  let firstRefusal: { placed: number; seconds: number } | undefined;
  const started = Date.now();
  const r = await loop(label, CLIENTS, opts.seconds, async (client, i) => {
    try {
      // As VmService writes them: the VMs (and so allocations) and their deploy jobs.
      await service.placeAndCommit(request(i, seeded.accountId + client), {
        vm: (p, plan) => ({
          uuid: randomUUID(), name: `b-${i}-${p.index}`, accountId: seeded.accountId, environmentId: seeded.envId,
          flavorId: seeded.flavorId, imageId: seeded.imageId,
          placement: { policy: plan.policy, seed: plan.seed, host: p.hostName, scores: p.scores, total: p.total, gpus: p.gpus },
        }),
        jobKind: "vm.deploy",
      });
      placed++;
      return true;
    } catch (e) {
      if ((e as { code?: string }).code === "insufficient_capacity") {
        rejected++;
        firstRefusal ??= { placed, seconds: (Date.now() - started) / 1000 };
      } else throw e;
      return false;
    }
  });
  const s = service.stats;
  r.extra = `group commits ${s.batches} (redone ${s.batchesRedone}), re-placed under lock ${s.replacedUnderLock}, retries ${s.retries}, rejected ${rejected}` +
    (firstRefusal ? `; first refusal after ${firstRefusal.placed} (${firstRefusal.seconds.toFixed(1)} s, ${(firstRefusal.placed / firstRefusal.seconds).toFixed(0)}/s until then)` : "");
  return r;
}

/** The same rows a placement writes, in one transaction per placement, without the allocator. */
async function equivalentWrites(url: string, seeded: Awaited<ReturnType<typeof seedFleet>>): Promise<RateResult> {
  const pool = new pg.Pool({ connectionString: url, max: CLIENTS });
  const hostIds = (await pool.query(`select id from hosts order by id`)).rows.map((r) => r.id as number);
  const r = await loop("equivalent transaction (lock host, 3 inserts, update), no allocator", CLIENTS, SECONDS, async (client, i) => {
    const c = await pool.connect();
    try {
      const host = hostIds[(i * 7919) % hostIds.length]!;
      await c.query("begin");
      await c.query(`select generation from hosts where id = $1 for update`, [host]);
      const vm = await c.query(`insert into vms(uuid, name, account_id, environment_id, flavor_id, image_id, host_id, state, vcpus, memory_mib)
        values (gen_random_uuid(), $1, $2, $3, $4, $5, $6, 'Creating', 2, 4096) returning id`,
      [`w-${i}`, seeded.accountId, seeded.envId, seeded.flavorId, seeded.imageId, host]);
      await c.query(`insert into jobs(uuid, kind, vm_id, account_id) values (gen_random_uuid(), 'vm.deploy', $1, $2)`, [vm.rows[0].id, seeded.accountId]);
      await c.query(`insert into allocations(vm_id, host_id, vcpus, memory_mib) values ($1, $2, 2, 4096)`, [vm.rows[0].id, host]);
      await c.query(`update hosts set generation = generation + 1 where id = $1`, [host]);
      await c.query("commit");
      return true;
    } finally {
      c.release();
    }
  });
  await pool.end();
  return r;
}

async function insertLoop(url: string): Promise<RateResult> {
  const pool = new pg.Pool({ connectionString: url, max: CLIENTS });
  await pool.query(`create table bench_insert(id bigserial primary key, v text not null)`);
  const r = await loop("single-row INSERT, autocommit", CLIENTS, SECONDS, async (_c, i) => {
    await pool.query(`insert into bench_insert(v) values ($1)`, [`row-${i}`]);
    return true;
  });
  await pool.end();
  return r;
}

async function pgbench(): Promise<RateResult | undefined> {
  const name = `orbit_bench_pgbench_${process.pid}`;
  try {
    await execa("pgbench", ["--version"]);
  } catch {
    return undefined;
  }
  await createDb(name);
  try {
    const u = new URL(dbUrl(name));
    const conn = ["-h", u.hostname, "-p", u.port || "5432", "-U", decodeURIComponent(u.username || "postgres")];
    await execa("pgbench", [...conn, "-i", "-q", "-s", "10", name], { env: { PGPASSWORD: decodeURIComponent(u.password) } });
    const out = await execa("pgbench", [...conn, "-c", String(CLIENTS), "-j", "2", "-T", String(SECONDS), "-n", name], {
      env: { PGPASSWORD: decodeURIComponent(u.password) },
    });
    const tps = /tps = ([\d.]+)/.exec(out.stdout)?.[1];
    const txs = /number of transactions actually processed: (\d+)/.exec(out.stdout)?.[1];
    if (!tps) return undefined;
    return { label: "pgbench TPC-B-like (5 statements/tx)", ops: Number(txs ?? 0), seconds: SECONDS, rate: Number(tps) };
  } finally {
    await dropDb(name);
  }
}

// DROP DATABASE ... WITH (FORCE) ends any connection a pool still keeps: not an error here.
let dropping = false;
process.on("uncaughtException", (e) => {
  if (dropping && (e as { code?: string }).code === "57P01") return;
  throw e;
});

async function main(): Promise<void> {
  const name = `orbit_bench_commit_${process.pid}`;
  await createDb(name);
  const url = dbUrl(name);
  const results: RateResult[] = [];
  let database: Database | undefined;
  try {
    database = await openDatabase({ url, poolSize: CLIENTS + 4 });
    const seeded = await seedFleet(url);
    const settings = { "cluster.cpu.allocated.capacity.disablethreshold": 1, "cluster.memory.allocated.capacity.disablethreshold": 1 };
    const vertical = buildPolicy(policyConfigFromSettings({ ...settings, "vm.allocation.mode": "vertical" }));
    const horizontal = buildPolicy(policyConfigFromSettings({ ...settings, "vm.allocation.mode": "horizontal" }));
    // Warm-up (JIT, first snapshot), not counted.
    await placementRun(database, horizontal, seeded, "warm-up", { seconds: 1 });
    results.push(await placementRun(database, horizontal, seeded, "placeAndCommit, horizontal, snapshot cache", { seconds: SECONDS }));
    results.push(await placementRun(database, vertical, seeded, "placeAndCommit, vertical (all contend for one host), snapshot cache", { seconds: SECONDS }));
    results.push(await placementRun(database, horizontal, seeded, "placeAndCommit, horizontal, one transaction per placement", {
      seconds: SECONDS, groupCommit: false,
    }));
    results.push(await placementRun(database, horizontal, seeded, "placeAndCommit, horizontal, no cache, one tx per placement", {
      seconds: Math.min(SECONDS, 5), cacheSnapshots: false, groupCommit: false,
    }));
    await database.close();
    database = undefined;
    results.push(await equivalentWrites(url, seeded));
    results.push(await insertLoop(url));
  } catch (e) {
    console.error("benchmark failed:", e);
    process.exitCode = 1;
  } finally {
    await database?.close();
    dropping = true;
    if (KEEP) console.log(`kept database ${url}`);
    else await dropDb(name);
  }
  if (PGBENCH) {
    const r = await pgbench();
    if (r) results.push(r);
  }

  const cpu = os.cpus()[0]?.model ?? "unknown CPU";
  console.log(`\nCommitted placements through PostgreSQL — ${new Date().toISOString()}`);
  console.log(`machine: ${os.cpus().length} x ${cpu}, ${Math.round(os.totalmem() / 2 ** 30)} GiB; ${HOSTS} hosts (1 in 5 with 8 x H100), ${VMS_PER_HOST} VMs/host before; ${CLIENTS} clients; ${SECONDS} s per run`);
  console.log(`group commits: at most ${BATCH} requests each, ${IN_FLIGHT} in flight`);
  console.log(`command: npx tsx bench/placement/commit-rate.ts --hosts ${HOSTS} --clients ${CLIENTS} --seconds ${SECONDS} --batch ${BATCH} --in-flight ${IN_FLIGHT}\n`);
  const w = Math.max(...results.map((r) => r.label.length));
  console.log(`| ${"run".padEnd(w)} | ops     | per second | notes`);
  console.log(`|-${"-".repeat(w)}-|---------|------------|------`);
  for (const r of results) {
    console.log(`| ${r.label.padEnd(w)} | ${String(r.ops).padStart(7)} | ${r.rate.toFixed(0).padStart(10)} | ${r.extra ?? ""}`);
  }
}

await main();
