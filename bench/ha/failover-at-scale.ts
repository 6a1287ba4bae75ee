// Failover at scale: a real orbit-manager process on a scratch PostgreSQL database, orbit-sim
// with --hosts simulated hosts loaded with VMs made through the API, a 1 s heartbeat
// (ping.interval), then loaded hosts killed one at a time (each victim is its own orbit-sim
// process, killed with SIGKILL: its stream, its heartbeats and its storage heartbeat stop at
// once, as a host losing power). Measured per victim: kill → host Suspect, → Down, and → each of
// its HA VMs Running on another host (p50, max), read from the database every 100 ms (host
// state) and from vm_state_transitions (VMs).
//
// The evidence HA needs (manager/src/ha/README.md): every simulated host writes its storage
// heartbeat in one shared directory (orbit-sim --storage-heartbeat-dir) and answers the
// manager's ProbeHost from it; simulated hosts have no network of their own, so a probe's
// network leg always says "unreachable" (orbit-sim answers it at once) and the verdict rests on
// the storage heartbeat's age (Down once it and the host's last heartbeat are
// older than self-fencing time + margin), the path a host without power takes. The cluster's
// storage pool is made shared, so HA VMs' root disks can follow them.
//
//   npx tsx bench/ha/failover-at-scale.ts --hosts 1000 --vms 3000 --victims 3
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import pg from "pg";
import { quantile } from "@orbit/agent/src/sim/lag-recorder.js";
import { AGENT_TOKEN, type Child, startChild, adminApi, callApi as api, cleanupOnSignal, cpuSeconds, machine, scratchDatabase, startManagerProcess } from "../support/processes.js";

const { values } = parseArgs({
  options: {
    hosts: { type: "string", default: "1000" },
    // VMs on the rest of the fleet (its load), a share of them HA.
    vms: { type: "string", default: "3000" },
    victims: { type: "string", default: "3" },
    // VMs on each victim, half of them HA (ha_enabled at create).
    "victim-vms": { type: "string", default: "20" },
    "ha-share": { type: "string", default: "0.5" },
    clients: { type: "string", default: "16" },
    "ping-interval": { type: "string", default: "1" },
    "ping-timeout": { type: "string", default: "3" },
    // ping.interval while the fleet registers and is loaded (its default): heartbeats at 1 s
    // would slow that. Shortened after, the old interval still counts for 3 of its periods
    // (hosts/heartbeat-deadline.ts), so the first kill waits that long.
    "load-ping-interval": { type: "string", default: "10" },
    // How long the fleet runs at ping.interval after that grace, before the first kill; half of it between kills.
    "settle-s": { type: "string", default: "15" },
    "latency-scale": { type: "string", default: "1" },
    flavor: { type: "string", default: "t1-tiny" },
    image: { type: "string", default: "Debian 12" },
    "timeout-s": { type: "string", default: "180" },
    "database-url": { type: "string", default: "postgres://postgres@127.0.0.1:5432/postgres" },
    json: { type: "boolean", default: false },
  },
});
const HOSTS = Number(values.hosts);
const VICTIMS = Number(values.victims);
const VICTIM_VMS = Number(values["victim-vms"]);
const BACKGROUND = Number(values.vms);
const HA_SHARE = Number(values["ha-share"]);
const CLIENTS = Number(values.clients);
const PING = Number(values["ping-interval"]);
const base = values["database-url"]!;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const log = (m: string) => process.stderr.write(`${new Date().toISOString()} ${m}\n`);

console.log(`$ npx tsx bench/ha/failover-at-scale.ts ${process.argv.slice(2).join(" ")}`);
console.log(machine());
const heartbeatDir = mkdtempSync(path.join(tmpdir(), "orbit-bench-hb-"));
const db = await scratchDatabase(base, "failover");
const mgr = await startManagerProcess(db).catch(async (e: unknown) => { await db.drop(); throw e; });
const sql = new pg.Client({ connectionString: db.url });
await sql.connect();
const sims: Child[] = [];
const cleanup = async () => {
  await sql.end().catch(() => {});
  for (const s of sims) await s.stop();
  await mgr.child.stop();
  await db.drop();
  rmSync(heartbeatDir, { recursive: true, force: true });
};
cleanupOnSignal(cleanup);

function startSim(prefix: string, seed: number, count: number): Child {
  const sim = startChild("agent/src/sim/main.ts", [
    "--manager", mgr.grpcAddress, "--token", AGENT_TOKEN, "--count", String(count), "--mix", "cpu:1", "--seed", String(seed), "--name-prefix", prefix,
    "--latency-scale", values["latency-scale"]!, "--report-ms", "0", "--heartbeat-ms", "600000",
    "--storage-heartbeat-dir", heartbeatDir, "--cluster-address", "100::1",
  ], {});
  sims.push(sim);
  return sim;
}

/** Creates `n` VMs through the API from CLIENTS concurrent clients, the first `haCount` with ha_enabled; resolves with their ids. */
async function createVms(key: string, prefix: string, n: number, haCount: number): Promise<number[]> {
  const ids: number[] = [];
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(CLIENTS, n) }, async () => {
    for (;;) {
      const i = next++;
      if (i >= n) return;
      const r = await api(mgr.apiUrl, key, "POST", "/v1/core/virtual-machines", {
        name: `${prefix}-${String(i).padStart(5, "0")}`, environment_name: "bench", flavor_name: values.flavor, image_name: values.image, count: 1,
        ...(i < haCount ? { ha_enabled: true } : {}),
      });
      ids.push(r.instances[0].id as number);
    }
  }));
  return ids;
}

async function waitRunning(ids: number[], what: string): Promise<void> {
  const end = Date.now() + 1_800_000;
  for (;;) {
    const { rows: [r] } = await sql.query<{ running: number; failed: number }>(
      "select count(*) filter (where state = 'Running')::int as running, count(*) filter (where state in ('Error', 'Down'))::int as failed from vms where id = any($1)", [ids]);
    if (r!.running === ids.length) return;
    if (r!.failed) throw new Error(`${what}: ${r!.failed} VMs failed`);
    if (Date.now() > end) throw new Error(`${what}: only ${r!.running} of ${ids.length} Running`);
    // A count by primary key: cheap even for thousands of VMs, and a small run is not kept waiting.
    await sleep(200);
  }
}

interface Row {
  victim: string; vms: number; ha: number; suspectS: number; downS: number; haP50S: number; haMaxS: number; haRunning: number;
  nonHaDown: number; reason: string; evidence: string; suspectOthers: number; mgrCpu: number;
}

try {
  const loadPing = Number(values["load-ping-interval"]);
  await adminApi(mgr.apiUrl, "PUT", "/v1/admin/settings/ping.interval", { value: loadPing });
  await adminApi(mgr.apiUrl, "PUT", "/v1/admin/settings/network.private.prefix", { value: 16 });
  const acct = (await adminApi(mgr.apiUrl, "POST", "/v1/admin/accounts", {
    name: "failover", limits: { vms: BACKGROUND + VICTIMS * VICTIM_VMS + 10, vcpus: 1_000_000, memory_mib: 1_000_000_000, gpus: 0 },
  })).account;
  const key = (await adminApi(mgr.apiUrl, "POST", `/v1/admin/accounts/${acct.id}/api-keys`, { name: "bench", role: "user" })).api_key.key as string;

  // The victims first, alone: their VMs can only go to them.
  const victims: { child: Child; name: string; id: number; vmIds: number[]; haIds: number[] }[] = [];
  for (let v = 0; v < VICTIMS; v++) {
    const child = startSim(`victim${v}`, 1000 + v, 1);
    await child.next("connected", 120_000);
    if (v === 0) {
      await api(mgr.apiUrl, key, "POST", "/v1/core/environments", { name: "bench", region: "default" });
      // The cluster's storage is shared (NFS-like): HA VMs' root disks may follow them to another host.
      await sql.query("update storage_pools set kind = 'shared'");
    }
    const { rows: [h] } = await sql.query<{ id: number; name: string }>("select id, name from hosts order by id desc limit 1");
    // Only this victim takes the next VMs: the ones before it are disabled meanwhile.
    for (const p of victims) await adminApi(mgr.apiUrl, "PUT", `/v1/admin/hosts/${p.id}`, { resource_state: "Disabled" });
    const haCount = Math.round(VICTIM_VMS * HA_SHARE);
    const vmIds = await createVms(key, `v${v}`, VICTIM_VMS, haCount);
    for (const p of victims) await adminApi(mgr.apiUrl, "PUT", `/v1/admin/hosts/${p.id}`, { resource_state: "Enabled" });
    const { rows: ha } = await sql.query<{ id: number }>("select id from vms where id = any($1) and ha_enabled", [vmIds]);
    victims.push({ child, name: h!.name, id: h!.id, vmIds, haIds: ha.map((r) => r.id) });
  }
  for (const v of victims) await waitRunning(v.vmIds, v.name);
  const { rows: onVictims } = await sql.query<{ host_id: number; n: number }>("select host_id, count(*)::int as n from vms where state = 'Running' group by host_id");
  log(`victims loaded: ${onVictims.map((r) => `host ${r.host_id}: ${r.n} VMs`).join(", ")}`);

  // The rest of the fleet, then its load (the victims disabled: they keep exactly their VMs).
  const t0 = Date.now();
  const fleet = startSim("sim", 16, HOSTS - VICTIMS);
  const c = await fleet.next("connected", 1_800_000);
  log(`${c.connected} more simulated hosts registered in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  for (const v of victims) await adminApi(mgr.apiUrl, "PUT", `/v1/admin/hosts/${v.id}`, { resource_state: "Disabled" });
  const t1 = Date.now();
  const bg = await createVms(key, "bg", BACKGROUND, Math.round(BACKGROUND * HA_SHARE));
  await waitRunning(bg, "background VMs");
  log(`${BACKGROUND} background VMs Running in ${((Date.now() - t1) / 1000).toFixed(1)} s`);
  for (const v of victims) await adminApi(mgr.apiUrl, "PUT", `/v1/admin/hosts/${v.id}`, { resource_state: "Enabled" });
  const { rows: [spread] } = await sql.query<{ hosts: number; max: number }>("select count(distinct host_id)::int as hosts, max(n)::int as max from (select host_id, count(*) as n from vms where state = 'Running' group by host_id) x");

  await adminApi(mgr.apiUrl, "PUT", "/v1/admin/settings/ping.timeout", { value: Number(values["ping-timeout"]) });
  await adminApi(mgr.apiUrl, "PUT", "/v1/admin/settings/ping.interval", { value: PING });
  const settle = Number(values["settle-s"]) * 1000;
  const grace = PING < loadPing ? loadPing * 3 * 1000 : 0;
  log(`ping.interval ${PING} s; settling ${(grace + settle) / 1000} s`);
  await sleep(grace + settle);

  const rows: Row[] = [];
  const killed: number[] = [];
  for (const v of victims) {
    const { rows: [before] } = await sql.query<{ n: number }>("select count(*)::int as n from hosts where state <> 'Up' and not (id = any($1))", [killed]);
    if (before!.n) log(`before killing ${v.name}: ${before!.n} other hosts not Up`);
    killed.push(v.id);
    const cpu0 = cpuSeconds(mgr.child.pid);
    v.child.kill("SIGKILL");
    const killedAt = Date.now();
    log(`killed ${v.name} (host ${v.id}, ${v.vmIds.length} VMs, ${v.haIds.length} HA)`);
    let suspectAt = 0, downAt = 0, suspectOthers = 0;
    const end = killedAt + Number(values["timeout-s"]) * 1000;
    let haRunning = 0;
    for (;;) {
      const { rows: [h] } = await sql.query<{ state: string }>("select state from hosts where id = $1", [v.id]);
      const now = Date.now();
      if (!suspectAt && h!.state !== "Up") suspectAt = now;
      if (!downAt && h!.state === "Down") downAt = now;
      const { rows: [o] } = await sql.query<{ n: number }>("select count(*)::int as n from hosts where state in ('Suspect', 'Alert') and not (id = any($1))", [killed]);
      suspectOthers = Math.max(suspectOthers, o!.n);
      const { rows: [r] } = await sql.query<{ n: number }>("select count(*)::int as n from vms where id = any($1) and state = 'Running' and host_id <> $2", [v.haIds, v.id]);
      haRunning = r!.n;
      if (downAt && haRunning === v.haIds.length) break;
      if (now > end) { log(`${v.name}: timed out (${h!.state}, ${haRunning} of ${v.haIds.length} HA VMs Running elsewhere)`); break; }
      await sleep(100);
    }
    const { rows: times } = await sql.query<{ ms: number }>(`
      select (extract(epoch from min(t.at)) * 1000)::float8 as ms from vm_state_transitions t join vms v on v.id = t.vm_id
      where t.vm_id = any($1) and t.to_state = 'Running' and t.at > to_timestamp($2 / 1000.0) and v.host_id <> $3 group by t.vm_id`, [v.haIds, killedAt, v.id]);
    const after = Float64Array.from(times.map((t) => (t.ms - killedAt) / 1000)).sort();
    const { rows: [hr] } = await sql.query<{ ha_reason: string; ha_evidence: any[] }>("select ha_reason, ha_evidence from hosts where id = $1", [v.id]);
    const { rows: [nd] } = await sql.query<{ n: number }>("select count(*)::int as n from vms where id = any($1) and not (id = any($2)) and state = 'Down'", [v.vmIds, v.haIds]);
    const ev = (hr!.ha_evidence ?? []) as { neighbour: string; answered: boolean; reachable: boolean; storageHeartbeatSeen: boolean; storageHeartbeatAgeMs: number }[];
    rows.push({
      victim: v.name, vms: v.vmIds.length, ha: v.haIds.length,
      suspectS: suspectAt ? (suspectAt - killedAt) / 1000 : NaN, downS: downAt ? (downAt - killedAt) / 1000 : NaN,
      haP50S: after.length ? quantile(after, 0.5) : NaN, haMaxS: after.length ? after[after.length - 1]! : NaN, haRunning,
      nonHaDown: nd!.n, reason: hr!.ha_reason,
      evidence: `${ev.length} neighbours: ${ev.filter((e) => e.answered).length} answered, ${ev.filter((e) => e.reachable).length} reached it, storage heartbeat ${ev.filter((e) => e.storageHeartbeatSeen).map((e) => `${e.storageHeartbeatAgeMs} ms`).join("/") || "not seen"}`,
      suspectOthers, mgrCpu: (cpuSeconds(mgr.child.pid) - cpu0) / ((Date.now() - killedAt) / 1000),
    });
    log(`${v.name}: Down after ${rows.at(-1)!.downS} s, HA VMs Running elsewhere p50 ${rows.at(-1)!.haP50S} s, max ${rows.at(-1)!.haMaxS} s`);
    await sleep(settle / 2);
  }

  console.log(`\n${HOSTS} simulated CPU hosts (${VICTIMS} victims, each its own orbit-sim process; the rest one orbit-sim), ${BACKGROUND} VMs on the rest (${Math.round(BACKGROUND * HA_SHARE)} HA; on ${spread!.hosts} hosts, at most ${spread!.max} on one) and ${VICTIM_VMS} on each victim (${Math.round(VICTIM_VMS * HA_SHARE)} HA), all made through the API; orbit-sim --latency-scale ${values["latency-scale"]} (startVm p50 1.5 s, p99 6 s at 1); ping.interval ${PING} s, ping.timeout ${values["ping-timeout"]}, ha.* at their defaults; storage heartbeat in one shared dir, probes' network leg always "unreachable" (simulated hosts)`);
  console.log("");
  console.log("| victim | VMs (HA) | kill → Suspect (s) | kill → **Down** (s) | kill → HA VMs Running elsewhere p50 / **max** (s) | HA VMs Running elsewhere | non-HA VMs Down | other hosts Suspect/Alert meanwhile (max) | manager CPU meanwhile | HA's reason | evidence |");
  console.log("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---|");
  for (const r of rows) {
    console.log(`| ${r.victim} | ${r.vms} (${r.ha}) | ${r.suspectS.toFixed(1)} | **${r.downS.toFixed(1)}** | ${r.haP50S.toFixed(1)} / **${r.haMaxS.toFixed(1)}** | ${r.haRunning} of ${r.ha} | ${r.nonHaDown} | ${r.suspectOthers} | ${Math.round(100 * r.mgrCpu)}% | ${r.reason} | ${r.evidence} |`);
  }
  console.log(`\nTargets (issue 15): Down within 10 s, HA VMs Running elsewhere within 30 s (CloudStack: ~150 s). load average at the end: ${machine().split("load average ")[1]}`);
  if (values.json) console.log(JSON.stringify({ event: "result", rows }));
} finally {
  await cleanup();
}
