// The PostgreSQL pool survives losing idle connections (a server restart, an admin terminating
// them) and closes only once its connections have really ended. Needs TEST_DATABASE_URL.
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import pg from "pg";
import { describe, expect, it } from "vitest";
import { openDatabase, scratchDatabaseUrl } from "./database.js";
import { sql } from "drizzle-orm";
import { databaseUnavailableFrom } from "#shared/errors.js";

const url = process.env.TEST_DATABASE_URL;

describe.skipIf(!url)("PostgreSQL pool", () => {
  it("replaces a connection terminated while idle instead of crashing, and closes cleanly", async () => {
    const scratch = await scratchDatabaseUrl("orbit_pool", { migrated: true });
    const errors: Error[] = [];
    const database = await openDatabase({ url: scratch.url, onIdleError: (e) => errors.push(e) });
    try {
      const pid = ((await database.db.execute(sql`select pg_backend_pid() as pid`)) as unknown as { rows: { pid: number }[] }).rows[0]!.pid;
      const admin = new pg.Client({ connectionString: url });
      await admin.connect();
      await admin.query("select pg_terminate_backend($1)", [pid]);
      await admin.end();
      for (let i = 0; i < 50 && errors.length === 0; i++) await new Promise((r) => setTimeout(r, 20));
      expect(errors.map((e) => (e as { code?: string }).code)).toEqual(["57P01"]);
      const again = (await database.db.execute(sql`select 1 as one`)) as unknown as { rows: { one: number }[] };
      expect(again.rows[0]!.one).toBe(1);
    } finally {
      await database.close();
      // With FORCE the drop terminates whatever is still connected: nothing may be.
      await scratch.drop();
    }
    expect(errors).toHaveLength(1);
  });

  it("a connection terminated inside a transaction fails that transaction, not the process", async () => {
    const scratch = await scratchDatabaseUrl("orbit_pool", { migrated: true });
    const active: Error[] = [];
    // Before the fix the checked-out client's 'error' had no listener: vitest reports such an
    // unhandled error as a failure (and orbit-manager died of it).
    const database = await openDatabase({ url: scratch.url, onIdleError: () => {}, onActiveError: (e) => active.push(e) });
    try {
      const failed = await database.db.transaction(async (tx) => {
        const pid = ((await tx.execute(sql`select pg_backend_pid() as pid`)) as unknown as { rows: { pid: number }[] }).rows[0]!.pid;
        const admin = new pg.Client({ connectionString: url });
        await admin.connect();
        await admin.query("select pg_terminate_backend($1)", [pid]);
        await admin.end();
        for (let i = 0; i < 100 && active.length === 0; i++) await new Promise((r) => setTimeout(r, 20));
        await tx.execute(sql`select 1`);
      }).then(() => undefined, (e: unknown) => e);
      // The server's 57P01, then the socket's end ("Connection terminated unexpectedly").
      expect((active[0] as { code?: string }).code).toBe("57P01");
      for (const e of active) expect(databaseUnavailableFrom(e)).toBeDefined();
      expect(databaseUnavailableFrom(failed)).toMatchObject({ code: "database_unavailable", retryable: true });
      // The broken connection left the pool: the next query gets a fresh one.
      const again = (await database.db.execute(sql`select 1 as one`)) as unknown as { rows: { one: number }[] };
      expect(again.rows[0]!.one).toBe(1);
    } finally {
      await database.close();
      await scratch.drop();
    }
  });

  it("a transaction whose BEGIN meets a dead connection gives its client back (the pool never drains)", async () => {
    const scratch = await scratchDatabaseUrl("orbit_pool", { migrated: true });
    // One client: a single leaked checkout would leave every later transaction waiting out the connect timeout.
    const database = await openDatabase({ url: scratch.url, poolSize: 1, onIdleError: () => {}, timeouts: { connectMs: 1500 } });
    const admin = new pg.Client({ connectionString: url });
    await admin.connect();
    let beginFailures = 0;
    try {
      for (let i = 0; i < 15; i++) {
        const pid = ((await database.db.execute(sql`select pg_backend_pid() as pid`)) as unknown as { rows: { pid: number }[] }).rows[0]!.pid;
        await admin.query("select pg_terminate_backend($1)", [pid]);
        // At once, before the idle client hears of its end: BEGIN goes to the dead connection.
        const failed = await database.db.transaction(async (tx) => { await tx.execute(sql`select 1`); }).then(() => undefined, (e: unknown) => e);
        if (failed) {
          beginFailures++;
          expect(databaseUnavailableFrom(failed), String(failed)).toBeDefined();
        }
      }
      const done = await database.db.transaction(async (tx) => (await tx.execute(sql`select 2 as two`)) as unknown as { rows: { two: number }[] });
      expect(done.rows[0]!.two).toBe(2);
    } finally {
      await admin.end();
      await database.close();
      await scratch.drop();
    }
    // The race was really run, not dodged: some BEGINs did meet a dead connection.
    expect(beginFailures).toBeGreaterThan(0);
  });

  it("a transaction that fails for a SQL reason keeps its healthy connection in the pool", async () => {
    const scratch = await scratchDatabaseUrl("orbit_pool", { migrated: true });
    const database = await openDatabase({ url: scratch.url, poolSize: 1 });
    try {
      const pid = async () => ((await database.db.execute(sql`select pg_backend_pid() as pid`)) as unknown as { rows: { pid: number }[] }).rows[0]!.pid;
      const before = await pid();
      const failed = await database.db.transaction(async (tx) => { await tx.execute(sql`select 1/0`); }).then(() => undefined, (e: unknown) => e);
      expect(String((failed as { cause?: unknown }).cause ?? failed)).toMatch(/division by zero/);
      expect(await pid()).toBe(before);
    } finally {
      await database.close();
      await scratch.drop();
    }
  });

  it("bounds statements and idle transactions on the server", async () => {
    const scratch = await scratchDatabaseUrl("orbit_pool", { migrated: true });
    const database = await openDatabase({ url: scratch.url, timeouts: { statementMs: 300, idleInTransactionMs: 400 } });
    try {
      const settings = (await database.db.execute(sql`select current_setting('statement_timeout') as st, current_setting('idle_in_transaction_session_timeout') as it`)) as unknown as { rows: { st: string; it: string }[] };
      expect(settings.rows[0]).toEqual({ st: "300ms", it: "400ms" });
      const slow = await database.db.execute(sql`select pg_sleep(5)`).then(() => undefined, (e: unknown) => e);
      expect(databaseUnavailableFrom(slow)?.details.reason).toMatch(/57014/);
    } finally {
      await database.close();
      await scratch.drop();
    }
  });

  it("migrates an empty database from the first migration; a migrated scratch copy holds every migration, apart from the next copy", async () => {
    // Tests copy a template migrated once per migration set: this one runs them all from nothing,
    // as a new installation on PostgreSQL does.
    const journal = JSON.parse(readFileSync(fileURLToPath(new URL("../../drizzle/meta/_journal.json", import.meta.url)), "utf8")) as { entries: unknown[] };
    const applied = async (u: string | undefined) => {
      const database = await openDatabase({ url: u });
      try {
        const r = (await database.db.execute(sql`select count(*)::int as n from drizzle.__drizzle_migrations`)) as unknown as { rows: { n: number }[] };
        return { n: r.rows[0]!.n, database };
      } catch (e) {
        await database.close();
        throw e;
      }
    };
    const empty = await scratchDatabaseUrl("orbit_pool");
    const a = await scratchDatabaseUrl("orbit_pool", { migrated: true });
    const b = await scratchDatabaseUrl("orbit_pool", { migrated: true });
    try {
      const fromNothing = await applied(empty.url);
      expect(fromNothing.n).toBe(journal.entries.length);
      await fromNothing.database.close();
      const copyA = await applied(a.url);
      expect(copyA.n).toBe(journal.entries.length);
      await copyA.database.db.execute(sql`insert into accounts (name) values ('only-in-a')`);
      await copyA.database.close();
      const copyB = await applied(b.url);
      const rows = (await copyB.database.db.execute(sql`select count(*)::int as n from accounts where name = 'only-in-a'`)) as unknown as { rows: { n: number }[] };
      expect(rows.rows[0]!.n).toBe(0);
      await copyB.database.close();
    } finally {
      await empty.drop();
      await a.drop();
      await b.drop();
    }
  });
});
