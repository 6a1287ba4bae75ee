// A PostgreSQL cluster of its own for fault tests: initdb into a temp folder, then start, stop
// and restart it on a free port (listening on 127.0.0.1 and a socket folder inside the temp
// folder) without touching any other server. PostgreSQL refuses to run as root, so when the
// test runs as root the server binaries run as the `postgres` OS user, owner of the folder.
import { execFile } from "node:child_process";
import { chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir, userInfo } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import pg from "pg";
import { freePort, waitFor } from "./processes.js";

const run = promisify(execFile);

/** The newest /usr/lib/postgresql/<version>/bin holding pg_ctl, or undefined. */
export function postgresBinDir(): string | undefined {
  const root = "/usr/lib/postgresql";
  if (!existsSync(root)) return undefined;
  const versions = readdirSync(root).filter((v) => existsSync(path.join(root, v, "bin", "pg_ctl")));
  versions.sort((a, b) => Number(b) - Number(a));
  return versions[0] ? path.join(root, versions[0], "bin") : undefined;
}

/** uid and gid of a local OS user, from /etc/passwd (the packages create `postgres` there). */
function osUserIds(name: string): { uid: number; gid: number } | undefined {
  const line = readFileSync("/etc/passwd", "utf8").split("\n").find((l) => l.startsWith(`${name}:`));
  if (!line) return undefined;
  const [, , uid, gid] = line.split(":");
  return { uid: Number(uid), gid: Number(gid) };
}

/**
 * Why private-PostgreSQL tests cannot run here, or undefined when they can. CI must run them:
 * callers skip only outside CI.
 */
export function privatePostgresUnavailable(): string | undefined {
  if (!postgresBinDir()) return "no PostgreSQL server binaries under /usr/lib/postgresql/*/bin";
  if (userInfo().uid === 0 && !osUserIds("postgres")) return "running as root and there is no `postgres` OS user to run the server as";
  return undefined;
}

export class PrivatePostgres {
  readonly dir: string;
  readonly dataDir: string;
  readonly socketDir: string;
  readonly logFile: string;
  private constructor(readonly bin: string, readonly port: number, private readonly asUser: { uid: number; gid: number } | undefined) {
    this.dir = mkdtempSync(path.join(tmpdir(), "orbit-private-pg-"));
    this.dataDir = path.join(this.dir, "data");
    this.socketDir = path.join(this.dir, "socket");
    this.logFile = path.join(this.dir, "server.log");
    mkdirSync(this.socketDir);
    if (asUser) {
      chownSync(this.dir, asUser.uid, asUser.gid);
      chownSync(this.socketDir, asUser.uid, asUser.gid);
    }
  }

  /** initdb (trust auth, user postgres) and start on a free port. */
  static async create(): Promise<PrivatePostgres> {
    const why = privatePostgresUnavailable();
    if (why) throw new Error(`private PostgreSQL unavailable: ${why}`);
    const asUser = userInfo().uid === 0 ? osUserIds("postgres") : undefined;
    const p = new PrivatePostgres(postgresBinDir()!, await freePort(), asUser);
    await p.exec("initdb", ["-D", p.dataDir, "-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8", "--locale=C"], 60_000);
    await p.start();
    return p;
  }

  /** postgres://postgres@127.0.0.1:PORT/DB */
  url(database = "postgres"): string {
    return `postgres://postgres@127.0.0.1:${this.port}/${database}`;
  }

  private async exec(tool: string, args: string[], timeout = 30_000): Promise<string> {
    const file = path.join(this.bin, tool);
    try {
      const { stdout } = await run(file, args, {
        timeout, cwd: this.dir,
        ...(this.asUser ? { uid: this.asUser.uid, gid: this.asUser.gid } : {}),
        env: { PATH: process.env.PATH, LANG: "C", LC_ALL: "C" },
      });
      return stdout;
    } catch (e) {
      const err = e as Error & { stderr?: string; stdout?: string };
      throw new Error(`${tool} ${args.join(" ")} failed: ${err.message}\n${err.stdout ?? ""}${err.stderr ?? ""}`);
    }
  }

  async start(): Promise<void> {
    const opts = `-p ${this.port} -k ${this.socketDir} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=100`;
    await this.exec("pg_ctl", ["start", "-w", "-t", "30", "-D", this.dataDir, "-l", this.logFile, "-o", opts], 40_000);
    await waitFor("private PostgreSQL to accept connections", async () => {
      const c = new pg.Client({ connectionString: this.url() });
      try {
        await c.connect();
        await c.query("select 1");
        return true;
      } finally {
        await c.end().catch(() => {});
      }
    }, 20_000);
  }

  /** pg_ctl stop; `fast` (the default) rolls back open transactions and ends every session. */
  async stop(mode: "fast" | "immediate" = "fast"): Promise<void> {
    await this.exec("pg_ctl", ["stop", "-w", "-t", "30", "-m", mode, "-D", this.dataDir], 40_000);
  }

  /** A restart as an admin does it: stopped (`fast`), down for `downMs`, started again on the same port. */
  async restart(downMs = 0): Promise<void> {
    await this.stop("fast");
    if (downMs > 0) await new Promise((r) => setTimeout(r, downMs));
    await this.start();
  }

  async running(): Promise<boolean> {
    try {
      await this.exec("pg_ctl", ["status", "-D", this.dataDir], 10_000);
      return true;
    } catch {
      return false;
    }
  }

  async createDatabase(name: string): Promise<string> {
    await this.query(`CREATE DATABASE ${name}`);
    return this.url(name);
  }

  /** One statement on a fresh connection (an admin's psql). */
  async query<R extends pg.QueryResultRow = Record<string, unknown>>(text: string, values: unknown[] = [], database = "postgres"): Promise<R[]> {
    const c = new pg.Client({ connectionString: this.url(database) });
    await c.connect();
    try {
      return (await c.query<R>(text, values)).rows;
    } finally {
      await c.end().catch(() => {});
    }
  }

  /** Stops the server (immediately) and deletes its folder. */
  async destroy(): Promise<void> {
    if (await this.running()) await this.stop("immediate").catch(() => {});
    rmSync(this.dir, { recursive: true, force: true });
  }
}
