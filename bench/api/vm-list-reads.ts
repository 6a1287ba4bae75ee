// Reads at size: GET /v1/core/virtual-machines pages with 100,000 VMs in the database, from a
// real orbit-manager process on a scratch PostgreSQL database.
//
// The data is made as the API makes it, then multiplied in SQL: orbit-sim registers --hosts CPU
// hosts; through the API, a big account (half the VMs, --big-envs environments) and --accounts
// small ones get a user key, their environments (each with its /16 network) and one VM each,
// which runs on a simulated host; each such VM is then cloned in bulk (INSERT ... SELECT over
// generate_series) with its own uuid, name, host (round robin), allocation and fixed IP, one in
// ten deleted (state Destroyed, deleted_at set, no allocation or IP), as deletes leave them.
//
// Measured one request at a time (a client with keep-alive): page 1, a middle page, and a name
// search, at page_size 50 and 100, as the big account's user and as an admin (every VM).
//
//   npx tsx bench/api/vm-list-reads.ts --vms 100000
import { parseArgs } from "node:util";
import pg from "pg";
import { quantile } from "@orbit/agent/src/sim/lag-recorder.js";
import { ADMIN_KEY, AGENT_TOKEN, type Child, startChild, adminApi, callApi, machine, scratchDatabase, startManagerProcess } from "../support/processes.js";

const { values } = parseArgs({
  options: {
    vms: { type: "string", default: "100000" },
    hosts: { type: "string", default: "1000" },
    accounts: { type: "string", default: "50" },
    "big-envs": { type: "string", default: "5" },
    requests: { type: "string", default: "500" },
    "database-url": { type: "string", default: "postgres://postgres@127.0.0.1:5432/postgres" },
    explain: { type: "boolean", default: true },
    keep: { type: "boolean", default: false },
    // Measure first without the VM list's indexes (migration vm-list-indexes), then with them.
    "compare-indexes": { type: "boolean", default: true },
  },
});
const TOTAL = Number(values.vms);
const HOSTS = Number(values.hosts);
const SMALL = Number(values.accounts);
const BIG_ENVS = Number(values["big-envs"]);
const REQUESTS = Number(values.requests);
const base = values["database-url"]!;
const FLAVOR = "t1-tiny";
const IMAGE = "Debian 12";

const api = callApi;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

console.log(`$ npx tsx bench/api/vm-list-reads.ts ${process.argv.slice(2).join(" ")}`);
console.log(machine());
const db = await scratchDatabase(base, "reads");
const mgr = await startManagerProcess(db);
const sql = new pg.Client({ connectionString: db.url });
await sql.connect();
let sim: Child | undefined;
try {
  // Rare heartbeats (ping.interval's maximum): the hosts are stopped once the VMs made through the
  // API run, and their liveness deadline (3 intervals) stays far away; the bulk VMs are never
  // reconciled against hosts that do not run them.
  await adminApi(mgr.apiUrl, "PUT", "/v1/admin/settings/ping.interval", { value: 600 });
  // A /16 per environment: room for every VM an environment gets here.
  await adminApi(mgr.apiUrl, "PUT", "/v1/admin/settings/network.private.prefix", { value: 16 });
  const t0 = Date.now();
  sim = startChild("agent/src/sim/main.ts", [
    "--manager", mgr.grpcAddress, "--token", AGENT_TOKEN, "--count", String(HOSTS), "--mix", "cpu:1", "--latency-scale", "0", "--report-ms", "0", "--heartbeat-ms", "600000",
  ], {});
  const c = await sim.next("connected", 1_800_000);
  console.log(`${c.connected} simulated CPU hosts registered in ${((Date.now() - t0) / 1000).toFixed(1)} s`);

  // Accounts, keys, environments and one VM per environment, through the API.
  interface Env { account: number; key: string; env: string; vmId?: number }
  const envs: Env[] = [];
  const account = async (name: string, nEnvs: number): Promise<{ id: number; key: string }> => {
    const a = (await adminApi(mgr.apiUrl, "POST", "/v1/admin/accounts", { name, limits: { vms: 1000, vcpus: 100000, memory_mib: 100_000_000, gpus: 0 } })).account;
    const key = (await adminApi(mgr.apiUrl, "POST", `/v1/admin/accounts/${a.id}/api-keys`, { name: "bench", role: "user" })).api_key.key as string;
    for (let e = 1; e <= nEnvs; e++) {
      await api(mgr.apiUrl, key, "POST", "/v1/core/environments", { name: `${name}-e${e}`, region: "default" });
      envs.push({ account: a.id, key, env: `${name}-e${e}` });
    }
    return { id: a.id, key };
  };
  const big = await account("big", BIG_ENVS);
  for (let i = 1; i <= SMALL; i++) await account(`small${String(i).padStart(3, "0")}`, 1);
  for (const e of envs) {
    const r = await api(mgr.apiUrl, e.key, "POST", "/v1/core/virtual-machines", { name: e.env, environment_name: e.env, flavor_name: FLAVOR, image_name: IMAGE });
    e.vmId = r.instances[0].id;
  }
  for (const e of envs) {
    for (;;) {
      const v = (await api(mgr.apiUrl, e.key, "GET", `/v1/core/virtual-machines/${e.vmId}`)).instance;
      if (v.status === "ACTIVE") break;
      if (v.status === "ERROR") throw new Error(`template VM ${e.env}: ${v.state_reason}`);
      await sleep(200);
    }
  }
  console.log(`${envs.length} environments, each with one VM made through the API and Running`);
  await sim.stop();

  // Clones: half of all VMs in the big account's environments, the rest spread over the small ones.
  const bigEnvs = envs.filter((e) => e.account === big.id);
  const smallEnvs = envs.filter((e) => e.account !== big.id);
  const per = new Map<Env, number>();
  for (const e of bigEnvs) per.set(e, Math.floor(TOTAL / 2 / bigEnvs.length) - 1);
  for (const e of smallEnvs) per.set(e, Math.floor(TOTAL / 2 / smallEnvs.length) - 1);
  const { rows: hostRows } = await sql.query<{ id: number }>("select id from hosts order by id");
  const hostIds = hostRows.map((h) => h.id);
  const t1 = Date.now();
  for (const [e, n] of per) {
    await sql.query(`
      with t as (select * from vms where id = $1),
      net as (select n.id, n.cidr from networks n join t on n.environment_id = t.environment_id),
      made as (
        insert into vms (uuid, name, account_id, environment_id, flavor_id, image_id, host_id, state, state_reason, power_state, vcpus, memory_mib,
          labels, user_data, callback_url, key_name, ssh_authorized_keys, seed_instance_id, root_disk_pool_id, root_disk_gib, placement, run_strategy,
          ha_enabled, scale_max_vcpus, scale_max_memory_mib, scale_min_memory_mib, created_at, updated_at, deleted_at)
        select gen_random_uuid(), t.name || '-' || g, t.account_id, t.environment_id, t.flavor_id, t.image_id,
          case when g % 10 = 0 then null else ($2::int[])[1 + (g + $1) % array_length($2::int[], 1)] end,
          case when g % 10 = 0 then 'Destroyed' else t.state end, t.state_reason,
          case when g % 10 = 0 then 'SHUTOFF' else t.power_state end, t.vcpus, t.memory_mib,
          t.labels, t.user_data, t.callback_url, t.key_name, t.ssh_authorized_keys, t.seed_instance_id, t.root_disk_pool_id, t.root_disk_gib,
          t.placement, t.run_strategy, t.ha_enabled, t.scale_max_vcpus, t.scale_max_memory_mib, t.scale_min_memory_mib,
          t.created_at - make_interval(secs => $3 - g), t.updated_at, case when g % 10 = 0 then now() else null end
        from t, generate_series(1, $3::int) g
        returning id, uuid, host_id, vcpus, memory_mib, deleted_at
      ),
      live as (select made.*, row_number() over (order by id) as rn from made where deleted_at is null),
      alloc as (insert into allocations (vm_id, host_id, vcpus, memory_mib) select id, host_id, vcpus, memory_mib from live)
      insert into ip_allocations (network_id, kind, address, vm_uuid)
        select net.id, 'fixed', host(network(net.cidr::inet) + 1000 + live.rn), live.uuid from live, net`,
    [e.vmId, hostIds, n]);
  }
  // The steady state autovacuum keeps (visibility map set, statistics current).
  await sql.query("vacuum analyze");
  const { rows: [counts] } = await sql.query("select count(*)::int as vms, count(*) filter (where deleted_at is null)::int as live, (select count(*)::int from allocations) as allocations, (select count(*)::int from ip_allocations) as ips from vms");
  const { rows: [bigCount] } = await sql.query("select count(*)::int as n from vms where account_id = $1 and deleted_at is null", [big.id]);
  console.log(`bulk insert: ${counts.vms} VMs (${counts.live} live, ${counts.allocations} allocations, ${counts.ips} IPs) in ${((Date.now() - t1) / 1000).toFixed(1)} s; the big account has ${bigCount.n} live VMs\n`);

  // The measurements.
  const search = `${bigEnvs[Math.min(2, bigEnvs.length - 1)]!.env}-77`;
  const adminLive = counts.live;
  const cases: { caller: string; key: string; label: string; q: string }[] = [];
  for (const [caller, key, live] of [["big account's user", big.key, bigCount.n], ["admin (every VM)", ADMIN_KEY, adminLive]] as const) {
    for (const size of [50, 100]) {
      cases.push({ caller, key, label: `page 1, page_size ${size}`, q: `page=1&page_size=${size}` });
      const middle = Math.max(1, Math.floor(live / size / 2));
      cases.push({ caller, key, label: `page ${middle} (middle), page_size ${size}`, q: `page=${middle}&page_size=${size}` });
      cases.push({ caller, key, label: `search "${search}", page_size ${size}`, q: `page=1&page_size=${size}&search=${encodeURIComponent(search)}` });
    }
  }
  const LIST_INDEXES = {
    vms_live_account_id: "create index vms_live_account_id on vms using btree (account_id, id) where deleted_at is null",
    vms_live_id: "create index vms_live_id on vms using btree (id) where deleted_at is null",
    vms_name_trgm: "create index vms_name_trgm on vms using gin (name gin_trgm_ops)",
  };
  const passes = values["compare-indexes"] ? ["without the list indexes", "with the list indexes"] : ["with the list indexes"];
  console.log(`${REQUESTS} requests per row, one at a time, after 20 unmeasured ones.`);
  for (const pass of passes) {
    if (pass.startsWith("without")) {
      for (const name of Object.keys(LIST_INDEXES)) await sql.query(`drop index if exists ${name}`);
    } else {
      for (const [name, ddl] of Object.entries(LIST_INDEXES)) {
        const { rows } = await sql.query("select 1 from pg_indexes where indexname = $1", [name]);
        if (!rows.length) await sql.query(ddl);
      }
    }
    await sql.query("analyze vms");
    console.log(`\n${pass} (migration 0040_vm-list-indexes: ${Object.keys(LIST_INDEXES).join(", ")}):\n`);
    console.log("| caller | request | VMs matched (count) | instances returned | p50 (ms) | p99 (ms) | max (ms) |");
    console.log("|---|---|---:|---:|---:|---:|---:|");
    for (const k of cases) {
      let last: any;
      for (let i = 0; i < 20; i++) last = await api(mgr.apiUrl, k.key, "GET", `/v1/core/virtual-machines?${k.q}`);
      const ms = new Float64Array(REQUESTS);
      for (let i = 0; i < REQUESTS; i++) {
        const s = performance.now();
        last = await api(mgr.apiUrl, k.key, "GET", `/v1/core/virtual-machines?${k.q}`);
        ms[i] = performance.now() - s;
      }
      ms.sort();
      console.log(`| ${k.caller} | ${k.label} | ${last.count} | ${last.instances.length} | ${quantile(ms, 0.5).toFixed(1)} | ${quantile(ms, 0.99).toFixed(1)} | ${ms[ms.length - 1]!.toFixed(1)} |`);
    }
    if (values.explain) await explain(pass);
  }

  async function explain(pass: string): Promise<void> {
    // The list's two statements (vm-service.ts list()) for the big account's middle page and search, as EXPLAIN ANALYZE sees them.
    const middle = Math.floor(bigCount.n / 100 / 2);
    const plans: [string, string, unknown[]][] = [
      ["count, big account", "select count(*) from vms where deleted_at is null and account_id = $1", [big.id]],
      ["middle page, big account", "select * from vms where deleted_at is null and account_id = $1 order by id desc limit 100 offset $2", [big.id, (middle - 1) * 100]],
      ["count, admin", "select count(*) from vms where deleted_at is null", []],
      ["middle page, admin", "select * from vms where deleted_at is null order by id desc limit 100 offset $1", [Math.floor(adminLive / 200) * 100]],
      ["middle page, admin, ids first (vm-service.ts)", "select * from vms where id in (select id from vms where deleted_at is null order by id desc limit 100 offset $1) order by id desc", [Math.floor(adminLive / 200) * 100]],
      ["middle page, big account, ids first (vm-service.ts)", "select * from vms where id in (select id from vms where deleted_at is null and account_id = $1 order by id desc limit 100 offset $2) order by id desc", [big.id, (middle - 1) * 100]],
      ["search count, admin", "select count(*) from vms where deleted_at is null and name ilike $1", [`%${search}%`]],
      ["search, big account", "select * from vms where deleted_at is null and account_id = $1 and name ilike $2 order by id desc limit 100", [big.id, `%${search}%`]],
    ];
    for (const [label, q, params] of plans) {
      const { rows } = await sql.query(`explain (analyze, buffers off) ${q}`, params);
      console.log(`\nEXPLAIN ANALYZE (${label}, ${pass}):\n${rows.map((r) => `    ${r["QUERY PLAN"]}`).join("\n")}`);
    }
  }
} finally {
  await sim?.stop();
  await sql.end();
  await mgr.child.stop();
  if (!values.keep) await db.drop();
  else console.log(`kept database ${db.url}`);
}
