// Opens the manager's database: PostgreSQL when a URL is given, else PGlite in a data folder
// (the embedded default). Both run the same drizzle migrations at start.
import { fileURLToPath } from "node:url";
import { mkdirSync } from "node:fs";
import { PGlite } from "@electric-sql/pglite";
import { drizzle as drizzlePg } from "drizzle-orm/node-postgres";
import { migrate as migratePg } from "drizzle-orm/node-postgres/migrator";
import { drizzle as drizzlePglite } from "drizzle-orm/pglite";
import { migrate as migratePglite } from "drizzle-orm/pglite/migrator";
import type { PgDatabase, PgQueryResultHKT } from "drizzle-orm/pg-core";
import pg from "pg";
import * as schema from "./schema.js";

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
}

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
    const pool = new pg.Pool({ connectionString: opts.url, max: opts.poolSize ?? 10 });
    pool.on("error", opts.onIdleError ?? ((err) => process.emitWarning(`PostgreSQL idle connection lost: ${err.message}`)));
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
  const client = opts.dataDir ? new PGlite(opts.dataDir) : new PGlite();
  const db = drizzlePglite(client, { schema }) as unknown as Db;
  await migratePglite(db as never, { migrationsFolder: MIGRATIONS });
  return { db, kind: "pglite", close: () => client.close() };
}

/**
 * For tests: a scratch database on the server of TEST_DATABASE_URL (created now, dropped by
 * `drop`), or no URL when TEST_DATABASE_URL is unset (callers then use in-memory PGlite).
 */
export async function scratchDatabaseUrl(prefix = "orbit_test"): Promise<{ url?: string; drop: () => Promise<void> }> {
  const base = process.env.TEST_DATABASE_URL;
  if (!base) return { drop: async () => {} };
  const name = `${prefix}_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
  const admin = new pg.Client({ connectionString: base });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(base);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: async () => {
      const c = new pg.Client({ connectionString: base });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.end();
    },
  };
}

/** For tests: a migrated database, on PostgreSQL when TEST_DATABASE_URL is set, else in-memory PGlite. */
export async function openTestDatabase(): Promise<Database & { url?: string }> {
  const scratch = await scratchDatabaseUrl();
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
