// Manager instances as GET /v1/admin/managers lists them: alive or not by their heartbeat, the
// duties and the open jobs each holds the lease of; the route answers its schema.
import Fastify from "fastify";
import type { TypeBoxTypeProvider } from "@fastify/type-provider-typebox";
import pino from "pino";
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openTestDatabase, type Database } from "../db/database.js";
import { accounts, jobs } from "../db/schema.js";
import { managerRoutes } from "../api/admin/managers.routes.js";
import { ClusterLease } from "./cluster-lease.js";
import { ManagerInstances } from "./manager-instances.js";

let database: Database;
beforeAll(async () => { database = await openTestDatabase(); });
afterAll(async () => { await database?.close(); });

const log = pino({ level: "silent" });

describe("ManagerInstances", () => {
  it("lists each instance with its heartbeat, duties held and jobs leased; a silent one is not alive, a stopped one says so", async () => {
    let now = Date.parse("2026-12-05T03:00:00Z");
    const clock = () => now;
    const identity = (id: string, pid: number) => ({ id, hostname: `host-${id}`, pid, startedAt: new Date(now), version: "9.9.9" });
    const a = new ManagerInstances({ db: database.db, me: identity("inst-a", 11), heartbeatMs: 3_600_000, aliveWithinMs: 5000, log, now: clock });
    const b = new ManagerInstances({ db: database.db, me: identity("inst-b", 22), heartbeatMs: 3_600_000, aliveWithinMs: 5000, log, now: clock });
    const c = new ManagerInstances({ db: database.db, me: identity("inst-c", 33), heartbeatMs: 3_600_000, aliveWithinMs: 5000, log, now: clock });
    await a.start();
    await b.start();
    await c.start();
    expect(await a.othersAlive()).toBe(2);
    await new ClusterLease({ db: database.db, name: "ha", holder: "inst-a", ttlMs: 60_000, now: clock }).acquire();
    await new ClusterLease({ db: database.db, name: "host-liveness", holder: "inst-a", ttlMs: 60_000, now: clock }).acquire();
    const [{ id: accountId }] = await database.db.insert(accounts).values({ name: "instances" }).returning({ id: accounts.id }) as [{ id: number }];
    const lease = (owner: string, status: "running" | "succeeded") =>
      ({ uuid: randomUUID(), kind: "k", accountId, status, leaseOwner: owner, leaseExpiresAt: new Date(now + 60_000) });
    await database.db.insert(jobs).values([lease("inst-b", "running"), lease("inst-b", "running"), lease("inst-b", "succeeded")]);
    await c.stop();

    now += 10_000; // past three heartbeats: b and c are silent (as if dead)
    const list = await a.list();
    expect(list.map((m) => m.id).sort()).toEqual(["inst-a", "inst-b", "inst-c"]);
    const byId = Object.fromEntries(list.map((m) => [m.id, m]));
    expect(byId["inst-a"]).toMatchObject({ alive: true, self: true, duties: ["ha", "host-liveness"], jobsLeased: 0, hostname: "host-inst-a", pid: 11 });
    expect(byId["inst-b"]).toMatchObject({ alive: false, self: false, duties: [], jobsLeased: 2 });
    expect(byId["inst-c"]).toMatchObject({ alive: false, stoppedAt: expect.any(Date) });
    expect(await a.othersAlive()).toBe(0);

    const app = Fastify().withTypeProvider<TypeBoxTypeProvider>();
    await app.register(managerRoutes(a));
    const res = await app.inject({ method: "GET", url: "/v1/admin/managers" });
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body).toMatchObject({ status: true, count: 3 });
    expect(body.managers.find((m: { id: string }) => m.id === "inst-a")).toMatchObject({
      hostname: "host-inst-a", pid: 11, version: "9.9.9", alive: true, self: true, duties: ["ha", "host-liveness"], jobs_leased: 0, stopped_at: null,
      started_at: "2026-12-05T03:00:00.000Z",
    });
    await app.close();
    await a.stop();
    await b.stop();
  });
});
