// Opens the manager's database: PostgreSQL when a URL is given, else PGlite in a data folder
// (the embedded default). Both run the same drizzle migrations at start.
import { createHash } from "node:crypto";
import { fileURLToPath } from "node:url";
import { mkdirSync, readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { PGlite } from "@electric-sql/pglite";
import { pg_trgm } from "@electric-sql/pglite/contrib/pg_trgm";
import { drizzle as drizzlePg } from "drizzle-orm/node-postgres";
import { migrate as migratePg } from "drizzle-orm/node-postgres/migrator";
import { drizzle as drizzlePglite } from "drizzle-orm/pglite";
import { migrate as migratePglite } from "drizzle-orm/pglite/migrator";
import type { PgDatabase, PgQueryResultHKT } from "drizzle-orm/pg-core";
import pg from "pg";
import * as schema from "./schema.js";
import { TransactionSafePool } from "./transaction-safe-pool.js";

export type Db = PgDatabase<PgQueryResultHKT, typeof schema>;
/** A transaction handle: same query API as Db. */
export type Tx = Parameters<Parameters<Db["transaction"]>[0]>[0];

export interface Database {
  db: Db;
  kind: "postgres" | "pglite";
  close(): Promise<void>;
}

const MIGRATIONS = fileURLToPath(new URL("../../drizzle", import.meta.url));

export interface OpenDatabaseOptions {
  /** postgres://... ; when absent, PGlite in dataDir (or in memory when dataDir is absent). */
  url?: string | undefined;
  dataDir?: string | undefined;
  poolSize?: number;
  /**
   * A pooled PostgreSQL connection failed while idle (server restart, admin termination). The
   * pool drops it and opens another when needed; without a handler the error would crash the
   * process. Default: a process warning.
   */
  onIdleError?: (err: Error) => void;
  /**
   * A connection checked out by a query or transaction failed (server stopped, backend
   * terminated). The query or transaction on it fails with that error and the pool discards the
   * connection; this only reports it. Default: nothing (the failed query reports it).
   */
  onActiveError?: (err: Error) => void;
  /** Bounds so that nothing waits forever on an absent or stuck server (PostgreSQL only). */
  timeouts?: Partial<DatabaseTimeouts>;
}

export interface DatabaseTimeouts {
  /** Waiting for a connection: opening one, or a free one from the full pool. */
  connectMs: number;
  /** One statement (server-side statement_timeout). */
  statementMs: number;
  /** A transaction left open without a statement (server-side idle_in_transaction_session_timeout). */
  idleInTransactionMs: number;
}

export const DEFAULT_DATABASE_TIMEOUTS: DatabaseTimeouts = { connectMs: 5000, statementMs: 30_000, idleInTransactionMs: 60_000 };

/** pg's Pool.end() resolves once its clients are asked to end; this waits until they have. */
function trackClients(pool: pg.Pool): () => Promise<void> {
  const open = new Set<unknown>();
  let waiters: (() => void)[] = [];
  pool.on("connect", (c) => open.add(c));
  pool.on("remove", (c) => {
    open.delete(c);
    if (open.size === 0) {
      waiters.forEach((w) => w());
      waiters = [];
    }
  });
  return () => open.size === 0 ? Promise.resolve() : new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, 5000); // never hang a shutdown on a stuck socket
    waiters.push(() => { clearTimeout(timer); resolve(); });
  });
}

export async function openDatabase(opts: OpenDatabaseOptions): Promise<Database> {
  if (opts.url) {
    const t = { ...DEFAULT_DATABASE_TIMEOUTS, ...opts.timeouts };
    const pool = new TransactionSafePool({
      connectionString: opts.url, max: opts.poolSize ?? 10,
      connectionTimeoutMillis: t.connectMs,
      statement_timeout: t.statementMs,
      idle_in_transaction_session_timeout: t.idleInTransactionMs,
      // TCP keepalive finds a server that vanished without closing the socket (host down, partition).
      keepAlive: true, keepAliveInitialDelayMillis: 10_000,
    });
    pool.on("error", opts.onIdleError ?? ((err) => process.emitWarning(`PostgreSQL idle connection lost: ${err.message}`)));
    // pg-pool listens for errors only on idle clients; a client checked out for a transaction
    // emits its socket error with no listener, which would end the process.
    const onActiveError = opts.onActiveError ?? (() => {});
    pool.on("connect", (client) => {
      client.on("error", (err) => {
        if (client.listenerCount("error") === 1) onActiveError(err);
      });
    });
    const allEnded = trackClients(pool);
    const db = drizzlePg(pool, { schema }) as unknown as Db;
    await migratePg(db as never, { migrationsFolder: MIGRATIONS });
    return {
      db, kind: "postgres", close: async () => {
        await pool.end();
        await allEnded();
      },
    };
  }
  if (opts.dataDir) mkdirSync(opts.dataDir, { recursive: true });
  // pg_trgm: the migrations create it (trigram index of VM names), as on PostgreSQL.
  const client = new PGlite({ ...(opts.dataDir ? { dataDir: opts.dataDir } : {}), extensions: { pg_trgm } });
  const db = drizzlePglite(client, { schema }) as unknown as Db;
  await migratePglite(db as never, { migrationsFolder: MIGRATIONS });
  return { db, kind: "pglite", close: () => client.close() };
}

/**
 * For tests: a scratch database on the server of TEST_DATABASE_URL (created now, dropped by
 * `drop`), or no URL when TEST_DATABASE_URL is unset (callers then use in-memory PGlite). With
 * `migrated`, it is a copy of a template database on which every migration has already run
 * (migratedTemplate): a copy takes a fraction of running ~50 migrations again for each test.
 */
export async function scratchDatabaseUrl(prefix = "orbit_test", opts: { migrated?: boolean } = {}): Promise<{ url?: string; drop: () => Promise<void> }> {
  const base = process.env.TEST_DATABASE_URL;
  if (!base) return { drop: async () => {} };
  const name = `${prefix}_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
  const template = opts.migrated ? await migratedTemplate(base) : undefined;
  const admin = new pg.Client({ connectionString: base });
  await admin.connect();
  try {
    await inUseRetry(() => admin.query(`CREATE DATABASE ${name}${template ? ` TEMPLATE ${template}` : ""}`));
  } finally {
    await admin.end();
  }
  return {
    url: databaseUrlOn(base, name),
    drop: async () => {
      const c = new pg.Client({ connectionString: base });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.end();
    },
  };
}

function databaseUrlOn(base: string, name: string): string {
  const url = new URL(base);
  url.pathname = `/${name}`;
  return url.toString();
}

/** PostgreSQL refuses to copy or rename a database a backend is still connected to (55006): one that just closed may take a moment to go. */
async function inUseRetry<T>(fn: () => Promise<T>): Promise<T> {
  for (let i = 0; ; i++) {
    try {
      return await fn();
    } catch (e) {
      if ((e as { code?: string }).code !== "55006" || i >= 50) throw e;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

let migrationsDigest: string | undefined;
const templatesReady = new Set<string>();

/**
 * The name of a database on `base`'s server holding exactly the migrations of this checkout,
 * made once per migration set (named by a digest of the migration files, so a branch with other
 * migrations gets its own) under an advisory lock (test workers start together), migrated under a
 * temporary name and renamed when complete: a run killed midway leaves no half-migrated template.
 * Templates of older migration sets are left in place (another checkout may still use them).
 */
async function migratedTemplate(base: string): Promise<string> {
  migrationsDigest ??= (() => {
    const h = createHash("sha256");
    for (const f of readdirSync(MIGRATIONS, { recursive: true }).map(String).sort()) {
      const file = path.join(MIGRATIONS, f);
      if (statSync(file).isFile()) h.update(f).update(readFileSync(file));
    }
    return h.digest("hex").slice(0, 16);
  })();
  const template = `orbit_tpl_${migrationsDigest}`;
  if (templatesReady.has(template)) return template;
  const admin = new pg.Client({ connectionString: base });
  await admin.connect();
  try {
    await admin.query("SELECT pg_advisory_lock(hashtext('orbit test database template'))");
    const found = await admin.query("SELECT 1 FROM pg_database WHERE datname = $1", [template]);
    if (found.rowCount === 0) {
      const building = `${template}_building`;
      await admin.query(`DROP DATABASE IF EXISTS ${building} WITH (FORCE)`);
      await admin.query(`CREATE DATABASE ${building}`);
      const database = await openDatabase({ url: databaseUrlOn(base, building) });
      await database.close();
      await inUseRetry(() => admin.query(`ALTER DATABASE ${building} RENAME TO ${template}`));
    }
    templatesReady.add(template);
    return template;
  } finally {
    await admin.query("SELECT pg_advisory_unlock(hashtext('orbit test database template'))").catch(() => undefined);
    await admin.end();
  }
}

/** For tests: a migrated database, on PostgreSQL when TEST_DATABASE_URL is set, else in-memory PGlite. */
export async function openTestDatabase(): Promise<Database & { url?: string }> {
  const scratch = await scratchDatabaseUrl("orbit_test", { migrated: true });
  const database = await openDatabase({ url: scratch.url });
  return {
    ...database,
    ...(scratch.url ? { url: scratch.url } : {}),
    close: async () => {
      await database.close();
      await scratch.drop();
    },
  };
}
