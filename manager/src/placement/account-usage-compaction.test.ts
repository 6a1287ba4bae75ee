import { sql } from "drizzle-orm";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openTestDatabase, type Database } from "../db/database.js";
import { accountUsage } from "./account-limits.js";
import { AccountUsageCompaction } from "./account-usage-compaction.js";

describe("account usage compaction", () => {
  let database: Database;
  const rows = async (accountId: number) => {
    const r = (await database.db.execute(sql`select count(*)::int as n from account_usage_deltas where account_id = ${accountId}`)) as unknown as { rows: { n: number }[] };
    return r.rows[0]!.n;
  };
  const account = async (name: string) => {
    const r = (await database.db.execute(sql`insert into accounts (name) values (${name}) returning id`)) as unknown as { rows: { id: number }[] };
    return Number(r.rows[0]!.id);
  };
  /** n rows for the account, as triggers would write them: +1 VM and its size, or -1 and minus it. */
  const deltas = async (accountId: number, changes: number[]) => {
    for (const c of changes) {
      await database.db.execute(sql`insert into account_usage_deltas (account_id, vms, vcpus, memory_mib, gpus)
        values (${accountId}, ${c}, ${2 * c}, ${1024 * c}, ${c > 0 ? 1 : -1})`);
    }
  };
  const compaction = (threshold = 10) => new AccountUsageCompaction({ db: database.db, log: pino({ level: "silent" }), threshold });

  beforeAll(async () => { database = await openTestDatabase(); });
  afterAll(async () => { await database?.close(); });

  it("folds a crowded account's rows into one with the same sums; leaves one under the threshold; a zero sum leaves none", async () => {
    const [crowded, quiet, gone] = [await account("crowded"), await account("quiet"), await account("all-gone")];
    await deltas(crowded, [...Array(30).fill(1), ...Array(12).fill(-1)]);
    await deltas(quiet, [1, 1, -1]);
    await deltas(gone, [...Array(20).fill(1), ...Array(20).fill(-1)]);
    const before = await accountUsage(database.db, [crowded, quiet, gone]);
    expect(before.get(crowded)).toEqual({ vms: 18, vcpus: 36, memoryMib: 18 * 1024, gpus: 18 });

    expect(await compaction().runOnce()).toEqual({ accounts: 2, rowsBefore: 42 + 40 });
    expect([await rows(crowded), await rows(quiet), await rows(gone)]).toEqual([1, 3, 0]);
    const after = await accountUsage(database.db, [crowded, quiet, gone]);
    expect(after.get(crowded)).toEqual(before.get(crowded));
    expect(after.get(quiet)).toEqual(before.get(quiet));
    expect(after.get(gone)).toBeUndefined();
    // Nothing crowded any more: a round does nothing.
    expect(await compaction().runOnce()).toEqual({ accounts: 0, rowsBefore: 0 });
  });

  it("skips an account whose lock a limit check holds, and folds it in a later round", async (ctx) => {
    // Needs a second connection to hold the lock meanwhile: PostgreSQL only (PGlite has one).
    if (database.kind !== "postgres") ctx.skip();
    const busy = await account("busy");
    await deltas(busy, Array(15).fill(1));
    let release!: () => void;
    let locked!: () => void;
    const isLocked = new Promise<void>((r) => { locked = r; });
    const holder = database.db.transaction(async (tx) => {
      await tx.execute(sql`select id from accounts where id = ${busy} for update`);
      locked();
      await new Promise<void>((r) => { release = r; });
    });
    await isLocked;
    expect(await compaction().runOnce()).toEqual({ accounts: 0, rowsBefore: 0 });
    expect(await rows(busy)).toBe(15);
    release();
    await holder;
    expect(await compaction().runOnce()).toEqual({ accounts: 1, rowsBefore: 15 });
    expect(await rows(busy)).toBe(1);
  });
});
