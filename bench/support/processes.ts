// Child processes for the benchmarks and what the kernel says about them: CPU time and memory
// from /proc/<pid>/stat and /proc/<pid>/status, a real orbit-manager on a scratch database,
// orbit-sim, and the bare stream server.
import { execSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import pg from "pg";
import { type ChildHandle, ROOT, freePort, spawnProgram } from "../../test/support/processes.js";

export { ROOT, freePort };
const CLK_TCK = Number(execSync("getconf CLK_TCK").toString().trim()) || 100;

/** CPU seconds (user + system) the process has used so far. */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  // Fields after the command name (which may contain spaces): state is field 3, utime 14, stime 15.
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(f[11]) + Number(f[12])) / CLK_TCK;
}

/** Resident memory now and at its peak (MiB). */
export function memoryMib(pid: number): { rss: number; hwm: number } {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kib = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? NaN);
  return { rss: kib("VmRSS") / 1024, hwm: kib("VmHWM") / 1024 };
}

/** A child process of a benchmark: the caller's environment plus `env`; only the tail of its output is kept. */
export type Child = ChildHandle;

/**
 * Starts the TypeScript program `script` (relative to the checkout): compiled when a test runs the
 * benchmark, through tsx when it is run by hand (test/support/processes.ts, programCommand).
 */
export function startChild(script: string, args: string[], env: Record<string, string>, nodeArgs: string[] = []): Child {
  return spawnProgram(script, args, { env: { ...process.env, ...env }, nodeArgs, maxOutput: 20_000 });
}

export const ADMIN_KEY = "orb_bench_admin_key_0123456789";
export const AGENT_TOKEN = "orb_bench_agent_token_0123456789";

export interface Scratch { url: string | undefined; dataDir: string; name: string; drop(): Promise<void> }

/** A fresh database on PostgreSQL (`base` names the server), or a PGlite folder when base is undefined. */
export async function scratchDatabase(base: string | undefined, label: string): Promise<Scratch> {
  const dataDir = mkdtempSync(path.join(tmpdir(), "orbit-bench-"));
  if (!base) return { url: undefined, dataDir, name: "pglite", drop: async () => rmSync(dataDir, { recursive: true, force: true }) };
  const name = `orbit_bench_${label}_${process.pid}`;
  const admin = new pg.Client({ connectionString: base });
  await admin.connect();
  await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(base);
  url.pathname = `/${name}`;
  return {
    url: url.toString(), dataDir, name,
    drop: async () => {
      const c = new pg.Client({ connectionString: base });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.end();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** The PostgreSQL backends serving a database (their pids), to add their CPU to the manager's. */
export async function backendPids(base: string, db: string): Promise<number[]> {
  const c = new pg.Client({ connectionString: base });
  await c.connect();
  const r = await c.query<{ pid: number }>("select pid from pg_stat_activity where datname = $1", [db]);
  await c.end();
  return r.rows.map((x) => x.pid);
}

export function cpuSecondsOf(pids: number[]): number {
  let s = 0;
  for (const p of pids) {
    try { s += cpuSeconds(p); } catch { /* ended */ }
  }
  return s;
}

export interface ManagerProcess { child: Child; apiUrl: string; grpcAddress: string }

/** A real orbit-manager (manager/src/main.ts, production profile) on the scratch database, plain gRPC, a static join token. */
export async function startManagerProcess(db: Scratch, extraEnv: Record<string, string> = {}, nodeArgs: string[] = []): Promise<ManagerProcess> {
  const apiPort = await freePort();
  const grpcPort = await freePort();
  const child = startChild("manager/src/main.ts", [], {
    ...(db.url ? { DATABASE_URL: db.url } : {}), ORBIT_DATA_DIR: db.dataDir,
    ORBIT_API_PORT: String(apiPort), ORBIT_GRPC_PORT: String(grpcPort), ORBIT_GRPC_TLS: "false",
    ORBIT_ALLOW_STATIC_JOIN_TOKEN: "true", ORBIT_AGENT_TOKEN: AGENT_TOKEN, ORBIT_ADMIN_KEY: ADMIN_KEY, ORBIT_LOG_LEVEL: "warn",
    ...extraEnv,
  }, nodeArgs);
  const apiUrl = `http://127.0.0.1:${apiPort}`;
  const end = Date.now() + 120_000;
  for (;;) {
    if (child.exit()) throw new Error(`orbit-manager exited: ${child.stderr}`);
    try {
      if ((await fetch(`${apiUrl}/healthz`)).ok) break;
    } catch { /* not yet */ }
    if (Date.now() > end) throw new Error(`orbit-manager did not answer within 120 s: ${child.stderr}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  return { child, apiUrl, grpcAddress: `127.0.0.1:${grpcPort}` };
}

export async function adminApi(apiUrl: string, method: string, p: string, body?: unknown): Promise<any> {
  const res = await fetch(`${apiUrl}${p}`, {
    method, headers: { api_key: ADMIN_KEY, ...(body !== undefined ? { "content-type": "application/json" } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const json = await res.json();
  if (!res.ok) throw new Error(`${method} ${p}: ${res.status} ${JSON.stringify(json)}`);
  return json;
}

export function machine(): string {
  const cpu = execSync("lscpu | grep -E '^(Model name|CPU\\(s\\)|Thread|Core)' | sed 's/  */ /g'").toString().trim().split("\n").join("; ");
  const mem = execSync("free -g | awk '/Mem:/ {print $2}'").toString().trim();
  const load = readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");
  return `${cpu}; ${mem} GiB RAM; node ${process.version}; load average ${load}`;
}

/** Transactions committed in a database so far (pg_stat_database; each autocommit statement is one). */
export async function commits(base: string, db: string): Promise<number> {
  const c = new pg.Client({ connectionString: base });
  await c.connect();
  const r = await c.query<{ n: string }>("select xact_commit::text as n from pg_stat_database where datname = $1", [db]);
  await c.end();
  return Number(r.rows[0]?.n ?? NaN);
}

/** A call of the manager's API with a user's (or admin's) key; a non-2xx answer throws with its body. */
export async function callApi(apiUrl: string, key: string, method: string, p: string, body?: unknown): Promise<any> {
  const res = await fetch(`${apiUrl}${p}`, {
    method, headers: { api_key: key, ...(body !== undefined ? { "content-type": "application/json" } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const json = await res.json();
  if (!res.ok) throw new Error(`${method} ${p}: ${res.status} ${JSON.stringify(json)}`);
  return json;
}

/** On SIGINT or SIGTERM, `cleanup` (stop the children, drop the scratch database) before exiting. */
export function cleanupOnSignal(cleanup: () => Promise<void>): void {
  const onSignal = (sig: NodeJS.Signals) => {
    process.stderr.write(`${sig}: stopping the bench's processes\n`);
    void cleanup().finally(() => process.exit(130));
  };
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
}
