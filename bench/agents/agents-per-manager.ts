// Agents per manager: one orbit-manager process (on a scratch PostgreSQL database, or PGlite)
// holding N orbit-sim streams at a 1 s heartbeat (ping.interval): the manager's CPU share and
// RSS, its PostgreSQL backends' CPU, heartbeat lag p50/p99 (sent_at_ms → the manager's ack, which
// it sends after recording the heartbeat). In the same run, the same N streams and messages
// against a bare grpc-js server that only acks (bare-stream-server.ts): the transport's own cost,
// and both servers' maximum heartbeat rate (hosts sending back to back, --flood-window in flight).
//
//   npx tsx bench/agents/agents-per-manager.ts --sizes 1000,5000,10000
import { parseArgs } from "node:util";
import { AGENT_TOKEN, startChild, adminApi, backendPids, commits, cpuSeconds, machine, memoryMib, scratchDatabase, startManagerProcess } from "../support/processes.js";

/** CPU seconds of each process still there (a pooled backend may end in the window). */
function cpuByPid(pids: number[]): Map<number, number> {
  const m = new Map<number, number>();
  for (const p of pids) {
    try { m.set(p, cpuSeconds(p)); } catch { /* ended */ }
  }
  return m;
}

/** CPU used between two samples by the processes present in both: a backend that ended meanwhile is left out (an undercount, never negative). */
function cpuBetween(a: Map<number, number>, b: Map<number, number>): number {
  let s = 0;
  for (const [p, end] of b) if (a.has(p)) s += end - a.get(p)!;
  return s;
}

const { values } = parseArgs({
  options: {
    sizes: { type: "string", default: "1000,5000,10000" },
    "warmup-s": { type: "string", default: "10" },
    "measure-s": { type: "string", default: "30" },
    "flood-s": { type: "string", default: "10" },
    "flood-window": { type: "string", default: "4" },
    // A manager already behind at 1 s learns nothing from a flood: only up to this many agents.
    "manager-flood-max": { type: "string", default: "1000" },
    "agents-per-connection": { type: "string", default: "1" },
    "database-url": { type: "string", default: "postgres://postgres@127.0.0.1:5432/postgres" },
    pglite: { type: "boolean", default: false },
    "skip-bare": { type: "boolean", default: false },
    "skip-orbit": { type: "boolean", default: false },
    // Node flags for the manager / orbit-sim processes, space-separated (e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof").
    "manager-node-args": { type: "string", default: "" },
    "sim-node-args": { type: "string", default: "" },
  },
});
const sizes = values.sizes!.split(",").map(Number);
const base = values.pglite ? undefined : values["database-url"];
const perConn = values["agents-per-connection"]!;
const nodeArgs = (v: string | undefined) => (v ? v.split(" ").filter(Boolean) : []);

interface Row {
  n: number; connections: number; txPerHeartbeat: number; connectS: number; cpu: number; rssMb: number; hwmMb: number; pgCpu: number | undefined;
  ackRate: number; p50: number; p99: number; max: number; unacked: number; oldestUnackedMs: number; floodRate: number; floodP99: number; simCpu: number; lost: number;
}

function simArgs(address: string, n: number, heartbeatMs: number, flood: boolean): string[] {
  return [
    "--manager", address, "--token", AGENT_TOKEN, "--count", String(n), "--seed", String(n), "--heartbeat-ms", String(heartbeatMs),
    "--agents-per-connection", perConn, "--connect-concurrency", "64", "--latency-scale", "0", "--report-ms", "0",
    "--warmup-s", values["warmup-s"]!, "--measure-s", values["measure-s"]!, "--flood-s", flood ? values["flood-s"]! : "0", "--flood-window", values["flood-window"]!, "--exit",
  ];
}

/**
 * Runs orbit-sim against a server process and measures the server over the sim's measurement
 * window. `onConnected` runs when every host is connected (the manager's ping.interval goes to
 * 1 s only then, so that registration is not slowed by heartbeats).
 */
async function drive(server: number, address: string, n: number, heartbeatMs: number, flood: boolean, pgPids: () => Promise<number[]>, txs: () => Promise<number>, onConnected: () => Promise<void>): Promise<Row> {
  const sim = startChild("agent/src/sim/main.ts", simArgs(address, n, heartbeatMs, flood), {}, nodeArgs(values["sim-node-args"]));
  try {
    const connected = await sim.next("connected", 1_800_000);
    // A few hosts still retrying their registration do not void the run: the row says how many streams there were.
    if (connected.connected < n * 0.99) throw new Error(`only ${connected.connected} of ${n} hosts connected`);
    console.error(`${new Date().toISOString()} ${n} hosts connected in ${connected.ms} ms`);
    await onConnected();
    await sim.next("measure-start", 600_000);
    const pids = await pgPids();
    const cpu0 = cpuSeconds(server), pg0 = cpuByPid(pids), tx0 = await txs(), t0 = Date.now();
    let rssMax = 0;
    const sampler = setInterval(() => { rssMax = Math.max(rssMax, memoryMib(server).rss); }, 1000);
    const m = await sim.next("measurement", 600_000);
    clearInterval(sampler);
    const tx = await txs() - tx0;
    const secs = (Date.now() - t0) / 1000;
    const cpu = (cpuSeconds(server) - cpu0) / secs;
    const pgCpu = pids.length ? cpuBetween(pg0, cpuByPid(pids)) / secs : undefined;
    const mem = memoryMib(server);
    const floodLine = flood && values["flood-s"] !== "0" ? await sim.next("flood", 600_000) : undefined;
    await sim.exited;
    return {
      n: m.connected, connections: m.connections, txPerHeartbeat: tx / m.acks, connectS: connected.ms / 1000, cpu, rssMb: Math.max(rssMax, mem.rss), hwmMb: mem.hwm, pgCpu,
      ackRate: m.ackRate, p50: m.lag.p50, p99: m.lag.p99, max: m.lag.max, unacked: m.unacked, oldestUnackedMs: m.oldestUnackedMs,
      floodRate: floodLine?.rate ?? NaN, floodP99: floodLine?.lag.p99 ?? NaN, simCpu: m.simCpuShare, lost: m.streamsLost,
    };
  } finally {
    await sim.stop();
  }
}

async function orbitRow(n: number): Promise<Row> {
  const db = await scratchDatabase(base, `agents_${n}`);
  const mgr = await startManagerProcess(db, {}, nodeArgs(values["manager-node-args"]));
  try {
    // Registration first, with heartbeats rare (ping.interval's maximum), then 1 s.
    await adminApi(mgr.apiUrl, "PUT", "/v1/admin/settings/ping.interval", { value: 600 });
    return await drive(mgr.child.pid, mgr.grpcAddress, n, 600_000, n <= Number(values["manager-flood-max"]), async () => (base && db.url ? backendPids(base, db.name) : []),
      async () => (base && db.url ? commits(base, db.name) : NaN), async () => {
      await adminApi(mgr.apiUrl, "PUT", "/v1/admin/settings/ping.interval", { value: 1 });
    });
  } finally {
    await mgr.child.stop();
    await db.drop();
  }
}

async function bareRow(n: number): Promise<Row> {
  const bare = startChild("bench/agents/bare-stream-server.ts", [], { BARE_HEARTBEAT_MS: "1000" });
  try {
    const { port } = await bare.next<{ port: number }>(undefined, 60_000);
    return await drive(bare.pid, `127.0.0.1:${port}`, n, 1000, true, async () => [], async () => NaN, async () => {});
  } finally {
    await bare.stop();
  }
}

const f = (x: number, d = 0) => (Number.isFinite(x) ? x.toLocaleString("en-US", { maximumFractionDigits: d, minimumFractionDigits: d }) : "-");
/** CPU µs per acknowledged heartbeat, from a CPU share (of one core) over the window's ack rate: independent of the load. */
const perAck = (cpuShare: number, r: Row) => (cpuShare * 1e6) / r.ackRate;
const pct = (x: number | undefined) => (x === undefined ? "-" : `${f(x * 100)}%`);

console.log(`$ npx tsx bench/agents/agents-per-manager.ts ${process.argv.slice(2).join(" ")}`);
console.log(machine());
console.log(`database: ${base ? "PostgreSQL" : "PGlite"}; ${values["measure-s"]} s measured after ${values["warmup-s"]} s at ping.interval 1 s; hosts per connection: ${perConn}; ` +
  `flood: ${values["flood-window"]} heartbeats in flight per host for ${values["flood-s"]} s\n`);
const orbit: Row[] = [];
const bare: Row[] = [];
for (const n of sizes) {
  if (!values["skip-orbit"]) {
    const o = await orbitRow(n);
    orbit.push(o);
    console.error(JSON.stringify({ orbit: o }));
  }
  if (!values["skip-bare"]) {
    const b = await bareRow(n);
    bare.push(b);
    console.error(JSON.stringify({ bare: b }));
  }
}
if (orbit.length) {
console.log("Orbit manager (orbit-manager process):\n");
console.log("| agents | TCP connections | all registered after (s) | manager CPU (of one core) | manager RSS max (MB) | PostgreSQL backends CPU | PostgreSQL transactions per heartbeat | heartbeats acked/s | lag p50 (ms) | lag p99 (ms) | lag max (ms) | unacked at end (oldest, ms) | streams lost | max heartbeats/s (flood), p99 lag ms | orbit-sim CPU | manager CPU µs per ack | orbit-sim CPU µs per ack | manager RSS per 1,000 streams (MB) |");
console.log("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
for (const r of orbit) {
  console.log(`| ${f(r.n)} | ${f(r.connections)} | ${f(r.connectS, 1)} | ${pct(r.cpu)} | ${f(r.rssMb)} | ${pct(r.pgCpu)} | ${f(r.txPerHeartbeat, 1)} | ${f(r.ackRate)} | ${f(r.p50)} | ${f(r.p99)} | ${f(r.max)} | ${f(r.unacked)} (${f(r.oldestUnackedMs)}) | ${r.lost} | ${f(r.floodRate)}, ${f(r.floodP99)} | ${pct(r.simCpu)} | ${f(perAck(r.cpu, r))} | ${f(perAck(r.simCpu, r))} | ${f((r.rssMb * 1000) / r.n)} |`);
}
}
if (bare.length) {
  console.log("\nBare grpc-js stream server (acks, nothing else), same streams and messages:\n");
  console.log("| agents | server CPU (of one core) | server RSS max (MB) | heartbeats acked/s | lag p50 (ms) | lag p99 (ms) | max heartbeats/s (flood), p99 lag ms | orbit-sim CPU | server CPU µs per ack | orbit-sim CPU µs per ack | server RSS per 1,000 streams (MB) |");
  console.log("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
  for (const r of bare) console.log(`| ${f(r.n)} | ${pct(r.cpu)} | ${f(r.rssMb)} | ${f(r.ackRate)} | ${f(r.p50)} | ${f(r.p99)} | ${f(r.floodRate)}, ${f(r.floodP99)} | ${pct(r.simCpu)} | ${f(perAck(r.cpu, r))} | ${f(perAck(r.simCpu, r))} | ${f((r.rssMb * 1000) / r.n)} |`);
}
