// Two `orbit-manager` processes on one PostgreSQL database, with short leases (ORBIT_LEASE_TTL_MS):
// the first one runs a job (an image download from a slow server here) and the singleton duties;
// it is killed with SIGKILL; the second takes the duties and the job over within the ttl (plus
// one sweep or round), and the job finishes exactly once. PostgreSQL only: on PGlite a manager is
// the only process.
import { createHash } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { eq } from "drizzle-orm";
import { afterAll, describe, expect, it } from "vitest";
import { openDatabase, scratchDatabaseUrl } from "../../manager/src/db/database.js";
import { jobs } from "../../manager/src/db/schema.js";
import { DUTY_NAMES } from "../../manager/src/cluster/duties.js";
import { ManagerProcess, waitFor } from "./processes.js";

const TTL_MS = 3000;
// The sweep runs every third of the ttl, duty rounds too: a takeover is due within ttl + a third.
const TAKEOVER_LIMIT_MS = TTL_MS + TTL_MS / 3 + 2000;

interface ManagerRow { id: string; pid: number; alive: boolean; self: boolean; duties: string[]; jobs_leased: number }

async function managers(m: ManagerProcess): Promise<ManagerRow[]> {
  const r = await m.api("GET", "/v1/admin/managers");
  if (r.status !== 200) throw new Error(`GET /v1/admin/managers: ${r.status} ${JSON.stringify(r.json)}`);
  return r.json.managers as ManagerRow[];
}

if (!process.env.TEST_DATABASE_URL) console.warn("jobs-two-managers: skipped (needs PostgreSQL: set TEST_DATABASE_URL)");

describe.runIf(process.env.TEST_DATABASE_URL)("jobs and duties across two managers on one PostgreSQL", () => {
  const cleanup: (() => Promise<void>)[] = [];
  afterAll(async () => { for (const c of cleanup.reverse()) await c().catch(() => undefined); });

  it("a manager killed while it runs a job and holds the duties: the other takes both within the ttl; the job finishes once", async () => {
    // A raw disk served slowly the first time (cut by the kill), at once afterwards.
    const raw = Buffer.alloc(512 * 1024, 3);
    const checksum = `sha256:${createHash("sha256").update(raw).digest("hex")}`;
    let requests = 0;
    let inFlight = 0;
    let maxInFlight = 0;
    let completed = 0;
    let firstCutAt = 0;
    const requestTimes: number[] = [];
    const server: Server = createServer((req, res) => {
      requests++;
      requestTimes.push(Date.now());
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      const slow = requests === 1;
      res.writeHead(200, { "content-length": raw.length });
      let sent = 0;
      const chunk = 16 * 1024;
      const next = () => {
        if (res.destroyed) return;
        if (sent >= raw.length) { res.end(); return; }
        res.write(raw.subarray(sent, sent + chunk));
        sent += chunk;
        if (slow) setTimeout(next, 1000); else setImmediate(next);
      };
      res.on("close", () => {
        inFlight--;
        if (sent >= raw.length && res.writableFinished) completed++;
        else if (!firstCutAt) firstCutAt = Date.now();
      });
      next();
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    cleanup.push(() => new Promise((r) => server.close(() => r())));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/disk.raw`;

    const db = await scratchDatabaseUrl("orbit_fault", { migrated: true });
    cleanup.push(db.drop);
    const env = { ORBIT_LEASE_TTL_MS: String(TTL_MS) };
    const a = await ManagerProcess.start({ databaseUrl: db.url!, env });
    cleanup.push(() => a.stop());
    // A holds every duty before B starts.
    await waitFor("A holds the duties", async () => (await managers(a)).find((m) => m.self)?.duties.length === DUTY_NAMES.length, 20_000);
    const b = await ManagerProcess.start({ databaseUrl: db.url!, env });
    cleanup.push(() => b.stop());
    const seenByB = await managers(b);
    expect(seenByB.filter((m) => m.alive), JSON.stringify(seenByB)).toHaveLength(2);
    expect(seenByB.find((m) => m.self)!.duties).toEqual([]);
    expect(seenByB.find((m) => !m.self)!.duties).toEqual([...DUTY_NAMES].sort());

    // The job: created through A, so A claims and runs it.
    const r = await a.api("POST", "/v1/admin/images", { name: "Two managers", url, checksum, type: "raw", is_public: true });
    expect(r.status, JSON.stringify(r.json)).toBe(202);
    const jobId = r.json.job_id as number;
    const imageId = r.json.image.id as number;
    await waitFor("A downloading", () => requests === 1 && inFlight === 1, 20_000);
    const aId = (await managers(a)).find((m) => m.self)!.id;
    const database = await openDatabase({ url: db.url! });
    cleanup.push(() => database.close());
    const job = async () => (await database.db.select().from(jobs).where(eq(jobs.id, jobId)))[0]!;
    expect(await job()).toMatchObject({ status: "running", leaseOwner: aId });
    // Beyond the ttl, A's renewals keep it: B does not start a second download.
    await new Promise((res) => setTimeout(res, TTL_MS + 1500));
    expect(requests).toBe(1);
    expect((await job()).leaseOwner).toBe(aId);

    // A dies mid-download.
    const killedAt = Date.now();
    await a.kill("SIGKILL");

    // B takes the duties and the job within the ttl (plus a round); the job ends once.
    const bDuties = await waitFor("B holds the duties", async () => {
      const me = (await managers(b)).find((m) => m.self)!;
      return me.duties.length === DUTY_NAMES.length && me;
    }, 30_000, 50);
    const dutiesAfterMs = Date.now() - killedAt;
    expect(bDuties.duties).toEqual([...DUTY_NAMES].sort());
    await waitFor("the image Ready", async () => (await b.api("GET", `/v1/admin/images/${imageId}`)).json.image?.status === "Ready", 60_000, 100);
    const jobAfterMs = requestTimes[1]! - killedAt;
    const done = await job();
    expect(done).toMatchObject({ status: "succeeded", result: { image_id: imageId }, leaseOwner: null });
    expect(requests).toBe(2); // A's cut download, then B's: never both at once
    expect(maxInFlight).toBe(1);
    expect(completed).toBe(1);
    expect(dutiesAfterMs).toBeLessThan(TAKEOVER_LIMIT_MS);
    expect(jobAfterMs).toBeLessThan(TAKEOVER_LIMIT_MS);
    console.log(`takeover after SIGKILL (ttl ${TTL_MS} ms): duties ${dutiesAfterMs} ms, job ${jobAfterMs} ms`);

    // A is listed as gone; B runs everything.
    const after = await waitFor("A not alive", async () => {
      const list = await managers(b);
      return list.find((m) => m.id === aId)?.alive === false && list;
    }, 30_000);
    expect(after.find((m) => m.id === aId)!.duties).toEqual([]);
  }, 180_000);
});
