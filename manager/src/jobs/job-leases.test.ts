// Job leases between two runners (two manager instances) on one database: a job is claimed by one
// of them only (SKIP LOCKED), renewed while it runs, taken over once its holder stops renewing
// (died), aborted in the holder that lost it (whose status writes are refused), and released at
// once by a graceful stop.
import { eq } from "drizzle-orm";
import pino from "pino";
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { OrbitError } from "#shared/errors.js";
import { openTestDatabase, type Database } from "../db/database.js";
import { accounts, jobs } from "../db/schema.js";
import { JobRunner, type JobRunnerOptions } from "./job-runner.js";

let database: Database;
let accountId: number;
beforeAll(async () => {
  database = await openTestDatabase();
  [{ id: accountId }] = await database.db.insert(accounts).values({ name: "job-leases" }).returning({ id: accounts.id }) as [{ id: number }];
});
afterAll(async () => { await database?.close(); });

const log = pino({ level: "silent" });
const runners: JobRunner[] = [];
const runner = (owner: string, o: Partial<JobRunnerOptions> = {}) => {
  const r = new JobRunner({ db: database.db, log, owner, backoffMs: () => 1, ...o });
  runners.push(r);
  return r;
};
afterAll(async () => { for (const r of runners) await r.stop(); });

async function newJob(kind: string): Promise<number> {
  const [j] = await database.db.insert(jobs).values({ uuid: randomUUID(), kind, accountId }).returning({ id: jobs.id });
  return j!.id;
}
async function row(id: number) {
  const [j] = await database.db.select().from(jobs).where(eq(jobs.id, id));
  return j!;
}
async function until(what: string, fn: () => Promise<boolean> | boolean, ms = 20_000): Promise<void> {
  for (const end = Date.now() + ms; Date.now() < end;) {
    if (await fn()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`timed out waiting for ${what}`);
}
function gate() {
  let open!: () => void;
  const opened = new Promise<void>((r) => { open = r; });
  return { open, opened };
}

describe("job leases", () => {
  it("two runners sweeping one database together never run the same job", async () => {
    const runs = new Map<number, string[]>();
    const a = runner("skip-a");
    const b = runner("skip-b");
    for (const [r, who] of [[a, "a"], [b, "b"]] as const) {
      r.register("shared", async ({ job }) => {
        runs.set(job.id, [...(runs.get(job.id) ?? []), who]);
        await new Promise((res) => setTimeout(res, 5));
      });
    }
    const ids: number[] = [];
    for (let i = 0; i < 30; i++) ids.push(await newJob("shared"));
    // Both claim at once, several times, in small batches.
    const claimed = (await Promise.all([a.sweepOnce(0, 7), b.sweepOnce(0, 7), a.sweepOnce(0, 7), b.sweepOnce(0, 7)])).flat();
    expect(new Set(claimed).size).toBe(claimed.length);
    while ((await Promise.all([a.sweepOnce(0, 7), b.sweepOnce(0, 7)])).flat().length) { /* until none is left */ }
    await a.idle();
    await b.idle();
    for (const id of ids) {
      expect(runs.get(id), `job ${id}`).toHaveLength(1);
      expect(await row(id)).toMatchObject({ status: "succeeded", leaseOwner: null });
    }
    expect(new Set([...runs.values()].flat())).toEqual(new Set(["a", "b"]));
  });

  it("enqueue claims the job directly; another live runner's enqueue of it does nothing", async () => {
    const g = gate();
    let runs = 0;
    const a = runner("direct-a");
    const b = runner("direct-b");
    for (const r of [a, b]) r.register("direct", async () => { runs++; await g.opened; });
    const id = await newJob("direct");
    a.enqueue(id);
    await until("a claimed it", async () => (await row(id)).leaseOwner === "direct-a" && runs === 1);
    b.enqueue(id);
    expect(await b.sweepOnce(0)).not.toContain(id);
    await b.idle();
    g.open();
    await a.idle();
    expect(runs).toBe(1);
    expect((await row(id)).status).toBe("succeeded");
  });

  it("a running job's lease is renewed: another runner does not take it past the ttl", async () => {
    const g = gate();
    const a = runner("renew-a", { leaseTtlMs: 300, renewEveryMs: 50 });
    const b = runner("renew-b", { leaseTtlMs: 300 });
    let runs = 0;
    a.register("long", async () => { runs++; await g.opened; });
    b.register("long", async () => { runs++; });
    const id = await newJob("long");
    a.enqueue(id);
    await until("running in a", async () => runs === 1);
    const first = (await row(id)).leaseExpiresAt!.getTime();
    await until("renewed twice past its first expiry", async () => (await row(id)).leaseExpiresAt!.getTime() > first + 100);
    expect(await b.sweepOnce(0)).toEqual([]);
    g.open();
    await a.idle();
    expect(runs).toBe(1);
    expect(await row(id)).toMatchObject({ status: "succeeded", leaseOwner: null });
  });

  it("a holder that stops renewing (died) loses the job to another runner, which finishes it; the old holder is aborted and writes nothing", async () => {
    const stuck = gate();
    let aSignal: AbortSignal | undefined;
    // a never renews (as if its process froze), so its lease expires after 200 ms.
    const a = runner("dead-a", { leaseTtlMs: 200, renewEveryMs: 3_600_000 });
    const b = runner("dead-b", { leaseTtlMs: 30_000 });
    a.register("takeover", async ({ signal }) => { aSignal = signal; await stuck.opened; return { host_id: 1 }; });
    b.register("takeover", async () => ({ host_id: 2 }));
    const id = await newJob("takeover");
    a.enqueue(id);
    await until("running in a", () => aSignal !== undefined);
    await until("a's lease expired and b took the job", async () => (await b.sweepOnce(0)).includes(id));
    await b.idle();
    expect(await row(id)).toMatchObject({ status: "succeeded", result: { host_id: 2 } });
    // a wakes up: its renewal finds the lease gone and aborts the handler; its result is not written.
    await a.renew();
    expect(aSignal!.aborted).toBe(true);
    stuck.open();
    await a.idle();
    expect(await row(id)).toMatchObject({ status: "succeeded", result: { host_id: 2 }, attempts: 2 });
  });

  it("a lost lease seen by a status write stops the job there (no retry, no failure written)", async () => {
    const a = runner("write-a", { leaseTtlMs: 200, renewEveryMs: 3_600_000, maxAttempts: 5 });
    const b = runner("write-b");
    let aCalls = 0;
    const taken = gate();
    a.register("retrying", async () => { aCalls++; await taken.opened; throw new OrbitError("conflict", "busy", { retryable: true }); });
    const bDone = gate();
    b.register("retrying", async () => { await bDone.opened; });
    const id = await newJob("retrying");
    a.enqueue(id);
    await until("running in a", () => aCalls === 1);
    await until("b took it", async () => (await b.sweepOnce(0)).includes(id));
    taken.open(); // a's attempt fails retryably: recording the error finds the lease gone
    await a.idle();
    expect(aCalls).toBe(1);
    expect(await row(id)).toMatchObject({ status: "running", leaseOwner: "write-b", error: null });
    bDone.open();
    await b.idle();
    expect((await row(id)).status).toBe("succeeded");
  });

  it("a graceful stop releases the leases at once: another runner takes the job without waiting for the ttl", async () => {
    const a = runner("stop-a", { leaseTtlMs: 3_600_000 });
    const b = runner("stop-b");
    let started = false;
    a.register("handover", async ({ signal }) => {
      started = true;
      await new Promise((_, reject) => signal.addEventListener("abort", () => reject(new OrbitError("agent_unavailable", "stopping", { retryable: true }))));
    });
    b.register("handover", async () => ({ host_id: 9 }));
    const id = await newJob("handover");
    a.enqueue(id);
    await until("running in a", () => started);
    await a.stop();
    expect(await row(id)).toMatchObject({ status: "running", leaseOwner: null });
    // A sweep with an hour's grace still takes it: released, not merely unclaimed.
    expect(await b.sweepOnce(3_600_000)).toEqual([id]);
    await b.idle();
    expect(await row(id)).toMatchObject({ status: "succeeded", result: { host_id: 9 } });
  });
});
