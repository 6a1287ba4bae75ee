// The PostgreSQL pool survives losing idle connections (a server restart, an admin terminating
// them) and closes only once its connections have really ended. Needs TEST_DATABASE_URL.
import pg from "pg";
import { describe, expect, it } from "vitest";
import { openDatabase, scratchDatabaseUrl } from "./database.js";
import { sql } from "drizzle-orm";

const url = process.env.TEST_DATABASE_URL;

describe.skipIf(!url)("PostgreSQL pool", () => {
  it("replaces a connection terminated while idle instead of crashing, and closes cleanly", async () => {
    const scratch = await scratchDatabaseUrl("orbit_pool");
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
});
