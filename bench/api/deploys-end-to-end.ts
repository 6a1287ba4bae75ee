// Deploys end to end: a real orbit-manager process on a scratch PostgreSQL database, orbit-sim
// with --hosts simulated CPU hosts (their command latencies log-normal around a real host's:
// a start 1.5 s p50, 6 s p99, agent/src/sim/command-timing.ts), then --vms VMs created through
// the Hyperstack API (POST /v1/core/virtual-machines, one VM per call) by --clients concurrent
// clients. Measured: VMs Running per second (first create sent → the last VM's transition to
// Running, from vm_state_transitions), the create call's latency, each VM's create → Running,
// the manager's and its PostgreSQL backends' CPU, and the transactions the database committed
// (pg_stat_database.xact_commit) during the run. Before it, what this PostgreSQL can commit at
// all: single-row INSERTs in autocommit from --pg-clients connections on a second scratch
// database for --pg-seconds (a pgbench-like loop).
//
//   npx tsx bench/api/deploys-end-to-end.ts --vms 10000 --hosts 1000 --clients 32
import { parseArgs } from "node:util";
import pg from "pg";
import { quantile } from "@orbit/agent/src/sim/lag-recorder.js";
import { AGENT_TOKEN, type Child, startChild, adminApi, backendPids, callApi as api, cleanupOnSignal, commits, cpuSeconds, cpuSecondsOf, machine, memoryMib, scratchDatabase, startManagerProcess } from "../support/processes.js";

const { values } = parseArgs({
  options: {
    vms: { type: "string", default: "10000" },
    hosts: { type: "string", default: "1000" },
    clients: { type: "string", default: "32" },
    mix: { type: "string", default: "cpu:1" },
    flavor: { type: "string", default: "t1-tiny" },
    image: { type: "string", default: "Debian 12" },
    // The manager's heartbeat interval during the run (its default, 10 s).
    "ping-interval": { type: "string", default: "10" },
    // orbit-sim's --latency-scale: 1 is a real host's command latencies, 0 instant.
    "latency-scale": { type: "string", default: "1" },
    "pg-clients": { type: "string", default: "16" },
    "pg-seconds": { type: "string", default: "5" },
    "timeout-s": { type: "string", default: "1800" },
    "database-url": { type: "string", default: "postgres://postgres@127.0.0.1:5432/postgres" },
    // Node flags for the manager, e.g. "--manager-node-args=--cpu-prof --cpu-prof-dir=/tmp/prof".
    "manager-node-args": { type: "string", default: "" },
    json: { type: "boolean", default: false },
    // Every statement of the run in PostgreSQL's log (ALTER DATABASE ... SET log_statement = 'all'): what a deploy costs, statement by statement.
    "log-statements": { type: "boolean", default: false },
  },
});
const VMS = Number(values.vms);
const HOSTS = Number(values.hosts);
const CLIENTS = Number(values.clients);
const base = values["database-url"]!;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const log = (m: string) => process.stderr.write(`${new Date().toISOString()} ${m}\n`);

/** Single-row INSERTs, each its own transaction, from `clients` connections for `seconds`: commits per second. */
async function postgresCommitRate(baseUrl: string, clients: number, seconds: number): Promise<number> {
  const db = await scratchDatabase(baseUrl, "commits");
  const pool = new pg.Pool({ connectionString: db.url, max: clients });
  try {
    await pool.query("create table bench_insert (id bigserial primary key, v text not null)");
    let n = 0;
    const end = Date.now() + seconds * 1000;
    const t0 = Date.now();
    await Promise.all(Array.from({ length: clients }, async (_, c) => {
      const conn = await pool.connect();
      try {
        for (let i = 0; Date.now() < end; i++) {
          await conn.query("insert into bench_insert(v) values ($1)", [`c${c}-${i}`]);
          n++;
        }
      } finally { conn.release(); }
    }));
    return (n * 1000) / (Date.now() - t0);
  } finally {
    await pool.end();
    await db.drop();
  }
}

const command = `npx tsx bench/api/deploys-end-to-end.ts ${process.argv.slice(2).join(" ")}`;
console.log(`$ ${command}`);
console.log(machine());
const pgRate = await postgresCommitRate(base, Number(values["pg-clients"]), Number(values["pg-seconds"]));
log(`PostgreSQL: ${Math.round(pgRate)} single-row INSERT commits/s from ${values["pg-clients"]} connections`);

const db = await scratchDatabase(base, "deploys");
if (values["log-statements"]) {
  const c = new pg.Client({ connectionString: base });
  await c.connect();
  await c.query(`alter database ${db.name} set log_statement = 'all'`);
  await c.end();
}
const mgr = await startManagerProcess(db, {}, values["manager-node-args"] ? values["manager-node-args"].split(" ") : []).catch(async (e: unknown) => { await db.drop(); throw e; });
const sql = new pg.Client({ connectionString: db.url });
await sql.connect();
let sim: Child | undefined;
cleanupOnSignal(async () => { await sql.end().catch(() => {}); await sim?.stop(); await mgr.child.stop(); await db.drop(); });
try {
  // Registration without heartbeats in the way, then the heartbeat of the run.
  await adminApi(mgr.apiUrl, "PUT", "/v1/admin/settings/ping.interval", { value: 600 });
  // One environment takes every VM: a /16 network (65,534 addresses).
  await adminApi(mgr.apiUrl, "PUT", "/v1/admin/settings/network.private.prefix", { value: 16 });
  const t0 = Date.now();
  sim = startChild("agent/src/sim/main.ts", [
    "--manager", mgr.grpcAddress, "--token", AGENT_TOKEN, "--count", String(HOSTS), "--mix", values.mix!, "--seed", "16",
    "--latency-scale", values["latency-scale"]!, "--report-ms", "0", "--heartbeat-ms", "600000",
  ], {});
  const c = await sim.next("connected", 1_800_000);
  const registerS = (Date.now() - t0) / 1000;
  log(`${c.connected} simulated hosts registered in ${registerS.toFixed(1)} s`);
  await adminApi(mgr.apiUrl, "PUT", "/v1/admin/settings/ping.interval", { value: Number(values["ping-interval"]) });

  const acct = (await adminApi(mgr.apiUrl, "POST", "/v1/admin/accounts", {
    name: "deploys", limits: { vms: VMS + 10, vcpus: 100 * VMS, memory_mib: 1_000_000 * VMS, gpus: 0 },
  })).account;
  const key = (await adminApi(mgr.apiUrl, "POST", `/v1/admin/accounts/${acct.id}/api-keys`, { name: "bench", role: "user" })).api_key.key as string;
  await api(mgr.apiUrl, key, "POST", "/v1/core/environments", { name: "bench", region: "default" });
  await api(mgr.apiUrl, key, "POST", "/v1/core/keypairs/generate", { name: "bench-key", environment_name: "bench" });
  // The new heartbeat interval reaches every host (nothing to wait for when it is the registration's).
  if (Number(values["ping-interval"]) !== 600) await sleep(2000);

  // The run: CLIENTS loops, each taking the next VM until VMS are asked for.
  const pids = await backendPids(base, db.name);
  const mgrCpu0 = cpuSeconds(mgr.child.pid), pgCpu0 = cpuSecondsOf(pids), simCpu0 = cpuSeconds(sim.pid), tx0 = await commits(base, db.name);
  const latencies = new Float64Array(VMS);
  let next = 0, errors = 0;
  const firstError: string[] = [];
  const start = Date.now();
  const clients = Array.from({ length: CLIENTS }, async () => {
    for (;;) {
      const i = next++;
      if (i >= VMS) return;
      const s = performance.now();
      try {
        await api(mgr.apiUrl, key, "POST", "/v1/core/virtual-machines", {
          name: `vm-${String(i).padStart(5, "0")}`, environment_name: "bench", flavor_name: values.flavor, image_name: values.image, key_name: "bench-key", count: 1,
        });
      } catch (e) {
        errors++;
        if (firstError.length < 3) firstError.push((e as Error).message.slice(0, 300));
        log(`create failed: ${(e as Error).message.slice(0, 300)}`);
      }
      latencies[i] = performance.now() - s;
    }
  });
  let createsDone = 0;
  void Promise.all(clients).then(() => { createsDone = Date.now(); });
  // Progress from the database (not the API: a list of 10,000 VMs would load the manager measured).
  const timeoutAt = start + Number(values["timeout-s"]) * 1000;
  let rssMax = 0;
  for (;;) {
    await sleep(1000);
    rssMax = Math.max(rssMax, memoryMib(mgr.child.pid).rss);
    const { rows: [r] } = await sql.query<{ running: number; failed: number; total: number }>(
      "select count(*) filter (where state = 'Running')::int as running, count(*) filter (where state in ('Error', 'Down'))::int as failed, count(*)::int as total from vms");
    log(`created ${Math.min(next, VMS)} (errors ${errors}), in db ${r!.total}, Running ${r!.running}, failed ${r!.failed}`);
    if (createsDone && r!.running + r!.failed >= VMS - errors) break;
    if (Date.now() > timeoutAt) { log("timed out"); break; }
  }
  const mgrCpu = cpuSeconds(mgr.child.pid) - mgrCpu0, pgCpu = cpuSecondsOf(pids) - pgCpu0, simCpu = cpuSeconds(sim.pid) - simCpu0, tx = (await commits(base, db.name)) - tx0;
  const { rows: [t] } = await sql.query<{ running: number; last_ms: string; p50: number; p99: number; max: number }>(`
    with r as (select v.id, v.created_at, min(t.at) as at from vms v join vm_state_transitions t on t.vm_id = v.id and t.to_state = 'Running' group by v.id, v.created_at)
    select count(*)::int as running, (extract(epoch from max(at)) * 1000)::bigint::text as last_ms,
      percentile_cont(0.5) within group (order by extract(epoch from at - created_at) * 1000) as p50,
      percentile_cont(0.99) within group (order by extract(epoch from at - created_at) * 1000) as p99,
      max(extract(epoch from at - created_at) * 1000) as max
    from r`);
  const lastRunning = Number(t!.last_ms);
  const wallS = (lastRunning - start) / 1000;
  const createS = (createsDone - start) / 1000;
  const lat = latencies.slice(0, VMS).sort();
  const { rows: states } = await sql.query<{ state: string; n: number }>("select state, count(*)::int as n from vms group by state order by 2 desc");
  const { rows: reasons } = await sql.query<{ state_reason: string; n: number }>("select state_reason, count(*)::int as n from vms where state <> 'Running' group by 1 order by 2 desc limit 3");

  console.log(`\n${HOSTS} simulated hosts (--mix ${values.mix}, registered in ${registerS.toFixed(1)} s), orbit-sim --latency-scale ${values["latency-scale"]} (startVm p50 1.5 s, p99 6 s at 1), ping.interval ${values["ping-interval"]} s; ${VMS} VMs (${values.flavor}, ${values.image}, a key pair) by ${CLIENTS} clients, one VM per POST /v1/core/virtual-machines`);
  console.log(`VM states at the end: ${states.map((s) => `${s.state} ${s.n}`).join(", ")}${reasons.length ? `; not Running because: ${reasons.map((r) => `${r.n} x ${r.state_reason}`).join("; ")}` : ""}`);
  if (firstError.length) console.log(`create errors (${errors}): ${firstError.join(" | ")}`);
  console.log("");
  console.log("| VMs Running | first create → last Running (s) | **VMs Running/s** | creates/s (API) | create p50 (ms) | create p99 (ms) | create max (ms) | create → Running p50 / p99 / max (s) | manager CPU (of one core) | manager RSS max (MB) | PostgreSQL backends CPU | PostgreSQL commits/s during the run (transactions per VM) | PostgreSQL single-row INSERT commits/s before the run | orbit-sim CPU |");
  console.log("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
  console.log(`| ${t!.running} | ${wallS.toFixed(1)} | **${Math.round(t!.running / wallS)}** | ${Math.round((VMS - errors) / createS)} | ${quantile(lat, 0.5).toFixed(0)} | ${quantile(lat, 0.99).toFixed(0)} | ${lat[lat.length - 1]!.toFixed(0)} | ${(t!.p50 / 1000).toFixed(1)} / ${(t!.p99 / 1000).toFixed(1)} / ${(t!.max / 1000).toFixed(1)} | ${Math.round((100 * mgrCpu) / wallS)}% | ${Math.round(rssMax)} | ${Math.round((100 * pgCpu) / wallS)}% | ${Math.round(tx / wallS)} (${(tx / Math.max(1, t!.running)).toFixed(1)}) | ${Math.round(pgRate)} (${values["pg-clients"]} connections) | ${Math.round((100 * simCpu) / wallS)}% |`);
  // Per VM, what does not depend on the machine's load: CPU time and transactions.
  const perVm = (x: number) => x / Math.max(1, t!.running);
  console.log(`\nper VM Running: manager CPU ${(perVm(mgrCpu) * 1000).toFixed(1)} ms, PostgreSQL backends CPU ${(perVm(pgCpu) * 1000).toFixed(1)} ms, ${perVm(tx).toFixed(1)} transactions committed`);
  console.log(`load average at the end: ${machine().split("load average ")[1]}`);
  if (values.json) console.log(JSON.stringify({ event: "result", running: t!.running, vms: VMS, errors, wallS, rate: t!.running / wallS, createP50: quantile(lat, 0.5), createP99: quantile(lat, 0.99), pgRate, tx }));
} finally {
  await sim?.stop();
  await sql.end();
  await mgr.child.stop();
  await db.drop();
}
