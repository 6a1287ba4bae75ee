// A job the database failed under (connection lost, outage) is run again, not failed and not
// left `running` with nobody running it; stop() cuts the wait short and leaves it for resume().
import { eq } from "drizzle-orm";
import pino from "pino";
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openTestDatabase, type Database } from "../db/database.js";
import { accounts, jobs } from "../db/schema.js";
import { OrbitError } from "#shared/errors.js";
import { JOB_MAX_ATTEMPTS_SETTING, SettingsRegistry } from "../settings/settings-registry.js";
import { JobRunner } from "./job-runner.js";

const lost = () => Object.assign(new Error("terminating connection due to administrator command"), { code: "57P01" });

let database: Database;
let accountId: number;
beforeAll(async () => {
  database = await openTestDatabase();
  [{ id: accountId }] = await database.db.insert(accounts).values({ name: "jobs-test" }).returning({ id: accounts.id }) as [{ id: number }];
});
afterAll(async () => { await database?.close(); });

async function newJob(kind: string): Promise<number> {
  const [j] = await database.db.insert(jobs).values({ uuid: randomUUID(), kind, accountId }).returning({ id: jobs.id });
  return j!.id;
}

async function status(id: number) {
  const [j] = await database.db.select().from(jobs).where(eq(jobs.id, id));
  return j!;
}

describe("JobRunner and database failures", () => {
  it("runs a job again after the database failed under it, without failing it", async () => {
    const failed: unknown[] = [];
    const reported: unknown[] = [];
    let calls = 0;
    const runner = new JobRunner({
      db: database.db, log: pino({ level: "silent" }), databaseRetryMs: () => 1,
      onFailed: async (_j, e) => { failed.push(e); },
      onDatabaseUnavailable: (e) => { reported.push(e); return true; },
    });
    runner.register("flaky", async () => {
      calls++;
      if (calls <= 2) throw lost();
      return { host_id: 7 };
    });
    const id = await newJob("flaky");
    runner.enqueue(id);
    await runner.idle();
    expect(calls).toBe(3);
    expect(failed).toEqual([]);
    expect(reported).toHaveLength(2);
    expect(await status(id)).toMatchObject({ status: "succeeded", result: { host_id: 7 } });
  });

  it("a real failure still fails the job", async () => {
    const runner = new JobRunner({ db: database.db, log: pino({ level: "silent" }), maxAttempts: 1 });
    runner.register("broken", async () => { throw new Error("bad spec"); });
    const id = await newJob("broken");
    runner.enqueue(id);
    await runner.idle();
    expect(await status(id)).toMatchObject({ status: "failed", error: { code: "internal", message: "bad spec" } });
  });

  it("names a failed job as failing while its onFailed hook runs, and not once the hook is done", async () => {
    let release!: () => void;
    let hookStarted!: () => void;
    const started = new Promise<void>((r) => { hookStarted = r; });
    const runner = new JobRunner({
      db: database.db, log: pino({ level: "silent" }), maxAttempts: 1,
      onFailed: async () => { hookStarted(); await new Promise<void>((r) => { release = r; }); },
    });
    runner.register("broken-slow-hook", async () => { throw new Error("bad spec"); });
    const id = await newJob("broken-slow-hook");
    runner.enqueue(id);
    await started;
    // The database says failed already; the hook (the VM to Error) has not finished.
    expect((await status(id)).status).toBe("failed");
    expect(runner.failingJobIds()).toEqual([id]);
    release();
    await runner.idle();
    expect(runner.failingJobIds()).toEqual([]);
  });

  it("retries a retryable error job.max.attempts times, read when the job runs", async () => {
    const registry = new SettingsRegistry();
    const runner = new JobRunner({ db: database.db, log: pino({ level: "silent" }), backoffMs: () => 1, maxAttempts: () => registry.number(JOB_MAX_ATTEMPTS_SETTING) });
    let calls = 0;
    runner.register("busy", async () => { calls++; throw new OrbitError("conflict", "host busy", { retryable: true }); });
    const attempts = async () => {
      calls = 0;
      const id = await newJob("busy");
      runner.enqueue(id);
      await runner.idle();
      expect(await status(id)).toMatchObject({ status: "failed" });
      return calls;
    };
    expect(await attempts()).toBe(8);
    registry.setLocal(JOB_MAX_ATTEMPTS_SETTING, 3);
    expect(await attempts()).toBe(3);
  });

  it("stop() ends the wait for the database and leaves the job for the next start", async () => {
    let calls = 0;
    const runner = new JobRunner({ db: database.db, log: pino({ level: "silent" }), databaseRetryMs: () => 3_600_000 });
    runner.register("outage", async () => { calls++; throw lost(); });
    const id = await newJob("outage");
    runner.enqueue(id);
    for (let i = 0; i < 500 && calls === 0; i++) await new Promise((r) => setTimeout(r, 10));
    await runner.stop(); // would wait an hour without the cut-short sleep (the test times out)
    expect(calls).toBe(1);
    expect((await status(id)).status).toBe("running");
  });

  it("the sweep runs a job committed but never enqueued (its creator's request failed after the commit)", async () => {
    const runner = new JobRunner({ db: database.db, log: pino({ level: "silent" }) });
    let runs = 0;
    runner.register("orphan", async () => { runs++; });
    const id = await newJob("orphan"); // pending, and nobody called enqueue
    runner.sweep(10, 0);
    for (let i = 0; i < 1000 && (await status(id)).status !== "succeeded"; i++) await new Promise((r) => setTimeout(r, 10));
    await runner.stop();
    expect((await status(id)).status).toBe("succeeded");
    expect(runs).toBe(1);
  });

  it("a failed job's hook is retried while the database is away, not dropped", async () => {
    let hookCalls = 0;
    const runner = new JobRunner({
      db: database.db, log: pino({ level: "silent" }), maxAttempts: 1, databaseRetryMs: () => 1,
      onFailed: async () => { hookCalls++; if (hookCalls <= 2) throw lost(); },
    });
    runner.register("doomed", async () => { throw new Error("refused by the host"); });
    const id = await newJob("doomed");
    runner.enqueue(id);
    await runner.idle();
    expect(hookCalls).toBe(3);
    expect((await status(id)).status).toBe("failed");
  });
});

describe("JobRunner metrics", () => {
  it("reports a job's end by kind and outcome (seconds since it was created), each retry with its code, not database failures", async () => {
    const seen: unknown[] = [];
    const metrics = {
      jobSettled: (kind: string, outcome: string, seconds: number, code?: string) => {
        expect(seconds).toBeGreaterThanOrEqual(0);
        expect(seconds).toBeLessThan(30);
        seen.push(["settled", kind, outcome, code]);
      },
      jobRetried: (kind: string, code: string) => { seen.push(["retried", kind, code]); },
    };
    let calls = 0;
    const runner = new JobRunner({
      db: database.db, log: pino({ level: "silent" }), backoffMs: () => 1, databaseRetryMs: () => 1, maxAttempts: 3,
      onDatabaseUnavailable: () => true, metrics,
    });
    runner.register("m.flaky", async () => {
      calls++;
      if (calls === 1) throw lost();
      if (calls === 2) throw new OrbitError("agent_unavailable", "away", { retryable: true });
    });
    runner.register("m.broken", async () => { throw new OrbitError("invalid_argument", "bad spec"); });
    const a = await newJob("m.flaky");
    runner.enqueue(a);
    await runner.idle();
    const b = await newJob("m.broken");
    runner.enqueue(b);
    await runner.idle();
    expect(seen).toEqual([
      ["retried", "m.flaky", "agent_unavailable"],
      ["settled", "m.flaky", "succeeded", undefined],
      ["settled", "m.broken", "failed", "invalid_argument"],
    ]);
  });
});
