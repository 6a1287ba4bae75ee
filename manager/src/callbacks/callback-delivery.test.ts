// The delivery worker against a real database, with a fake clock and a fake receiver: signed
// POSTs, retries with backoff until the window closes, leases, per-VM order, bounded concurrency.
import { randomUUID } from "node:crypto";
import { asc, eq } from "drizzle-orm";
import pino from "pino";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { openTestDatabase, type Database } from "../db/database.js";
import { callbackAttempts, callbackDeliveries, vms, vmStateTransitions } from "../db/schema.js";
import { seedBasics, type FixtureIds } from "../placement/testing/placement-fixture.js";
import { transitionVm } from "../vm/vm-transitions.js";
import { actionEvent } from "../events/vm-event.js";
import { CallbackDeliveryWorker, leaseMs } from "./callback-delivery.js";
import type { CallbackRequest } from "./callback-http.js";
import { enqueueVmCallback } from "./callback-outbox.js";
import { CallbackSecretService } from "./callback-secrets.js";
import type { DeliverySettings } from "./callback-settings.js";
import { verifySignature } from "./callback-signature.js";

let database: Database;
let ids: FixtureIds;
let secrets: CallbackSecretService;
beforeAll(async () => {
  database = await openTestDatabase();
  ids = await seedBasics(database.db);
  secrets = new CallbackSecretService(database.db, () => 60_000);
});
afterAll(async () => { await database?.close(); });

const settings: DeliverySettings = {
  attemptTimeoutMs: 1000, retryWindowMs: 60_000, backoff: { baseMs: 1000, maxMs: 8000 }, concurrency: 4, pollIntervalMs: 10,
};

async function newVm(url: string): Promise<number> {
  const [vm] = await database.db.insert(vms).values({
    uuid: randomUUID(), name: "cb", accountId: ids.accountId, environmentId: ids.envId, flavorId: ids.flavorId, imageId: ids.imageId,
    state: "Creating", vcpus: 1, memoryMib: 1, callbackUrl: url,
  }).returning({ id: vms.id });
  return vm!.id;
}

/** A receiver that answers from a script (a status, an error, or never), recording each request. */
function fakeReceiver(script: (req: CallbackRequest, n: number) => number | Error | "hang") {
  const requests: CallbackRequest[] = [];
  const post = (req: CallbackRequest) => {
    requests.push(req);
    const r = script(req, requests.length);
    if (r === "hang") {
      return new Promise<{ statusCode: number }>((_, reject) => req.signal?.addEventListener("abort", () => reject(new Error("aborted"))));
    }
    return r instanceof Error ? Promise.reject(r) : Promise.resolve({ statusCode: r });
  };
  return { post, requests };
}

function worker(post: (r: CallbackRequest) => Promise<{ statusCode: number }>, clock: { t: number }, s: Partial<DeliverySettings> = {}, owner?: string) {
  return new CallbackDeliveryWorker({
    db: database.db, post, secrets, settings: () => ({ ...settings, ...s }), log: pino({ level: "silent" }),
    now: () => clock.t, random: () => 1, ...(owner ? { owner } : {}),
  });
}

async function deliveriesOf(vmId: number) {
  return database.db.select().from(callbackDeliveries).where(eq(callbackDeliveries.vmId, vmId)).orderBy(asc(callbackDeliveries.id));
}

async function attemptsOf(deliveryId: number) {
  return database.db.select().from(callbackAttempts).where(eq(callbackAttempts.deliveryId, deliveryId)).orderBy(asc(callbackAttempts.id));
}

describe("the callback outbox", () => {
  it("queues a state change's callback in the transition's transaction, and nothing for a VM without a URL", async () => {
    const withUrl = await newVm("http://receiver.test/hook");
    const without = await newVm("");
    await expect(database.db.transaction(async (tx) => {
      await transitionVm(tx, withUrl, "Starting", "test");
      throw new Error("rolled back");
    })).rejects.toThrow("rolled back");
    expect(await deliveriesOf(withUrl)).toEqual([]);
    await database.db.transaction((tx) => transitionVm(tx, withUrl, "Starting", "test"));
    await database.db.transaction((tx) => transitionVm(tx, without, "Starting", "test"));
    const [d] = await deliveriesOf(withUrl);
    const [t] = await database.db.select().from(vmStateTransitions).where(eq(vmStateTransitions.vmId, withUrl));
    expect(d).toMatchObject({ eventId: `transition:${t!.id}`, eventType: "state_changed", status: "pending", url: "http://receiver.test/hook" });
    expect(JSON.parse(d!.body)).toMatchObject({
      event_id: `transition:${t!.id}`, type: "state_changed", org_id: ids.accountId,
      resource: { type: "virtual_machine", id: withUrl, name: "cb" }, state: { from: "Creating", to: "Starting", status: "STARTING" }, action: null,
    });
    expect(await deliveriesOf(without)).toEqual([]);
  });

  it("queues one delivery per event id", async () => {
    const vmId = await newVm("http://receiver.test/hook");
    const job = { id: 999_001, kind: "vm.deploy", createdAt: new Date(), finishedAt: null, error: null };
    expect(await enqueueVmCallback(database.db, vmId, (vm) => actionEvent(vm, job, "requested"))).toBe(true);
    expect(await enqueueVmCallback(database.db, vmId, (vm) => actionEvent(vm, job, "requested"))).toBe(false);
    expect(await deliveriesOf(vmId)).toHaveLength(1);
  });
});

describe("the callback delivery worker", () => {
  // Each test sees only its own rows.
  beforeEach(async () => {
    await database.db.update(callbackDeliveries).set({ status: "cancelled" }).where(eq(callbackDeliveries.status, "pending"));
  });

  it("POSTs the stored body signed with the account's secret and records the attempt", async () => {
    const vmId = await newVm("http://receiver.test/signed");
    await database.db.transaction((tx) => transitionVm(tx, vmId, "Starting", "test"));
    const clock = { t: Date.now() };
    const rx = fakeReceiver(() => 204);
    const w = worker(rx.post, clock);
    expect(await w.tick()).toBeGreaterThanOrEqual(1);
    await w.idle();
    const [d] = await deliveriesOf(vmId);
    const req = rx.requests.find((r) => r.headers["X-Orbit-Event-Id"] === d!.eventId)!;
    expect(req.body).toBe(d!.body);
    expect(req.url).toBe("http://receiver.test/signed");
    expect(req.headers["X-Orbit-Event-Type"]).toBe("state_changed");
    const { secret } = await secrets.get(ids.accountId);
    expect(verifySignature(secret, req.headers["X-Orbit-Signature"]!, req.body, { nowSeconds: Math.floor(clock.t / 1000) })).toBe(true);
    expect(d).toMatchObject({ status: "delivered", attempts: 1, lastStatusCode: 204, leaseOwner: null });
    expect(await attemptsOf(d!.id)).toMatchObject([{ attempt: 1, statusCode: 204, error: null, url: "http://receiver.test/signed" }]);
  });

  it("retries a failed callback with backoff, then delivers it", async () => {
    const vmId = await newVm("http://receiver.test/flaky");
    await database.db.transaction((tx) => transitionVm(tx, vmId, "Starting", "test"));
    const clock = { t: Date.now() };
    const rx = fakeReceiver((_r, n) => (n === 1 ? 500 : n === 2 ? new Error("connect ECONNREFUSED") : 200));
    const w = worker(rx.post, clock);
    await w.tick();
    await w.idle();
    let [d] = await deliveriesOf(vmId);
    expect(d).toMatchObject({ status: "pending", attempts: 1, lastStatusCode: 500 });
    expect(d!.nextAttemptAt.getTime()).toBe(clock.t + 1000);
    expect(await w.tick()).toBe(0); // not due yet
    clock.t += 1000;
    await w.tick();
    await w.idle();
    [d] = await deliveriesOf(vmId);
    expect(d).toMatchObject({ status: "pending", attempts: 2, lastStatusCode: null, lastError: "connect ECONNREFUSED" });
    expect(d!.nextAttemptAt.getTime()).toBe(clock.t + 2000); // doubled
    clock.t += 2000;
    await w.tick();
    await w.idle();
    [d] = await deliveriesOf(vmId);
    expect(d).toMatchObject({ status: "delivered", attempts: 3, lastStatusCode: 200 });
    expect((await attemptsOf(d!.id)).map((a) => [a.attempt, a.statusCode, a.error])).toEqual([[1, 500, null], [2, null, "connect ECONNREFUSED"], [3, 200, null]]);
  });

  it("gives up once the retry window is over", async () => {
    const vmId = await newVm("http://receiver.test/dead");
    await database.db.transaction((tx) => transitionVm(tx, vmId, "Starting", "test"));
    const [created] = await deliveriesOf(vmId);
    const clock = { t: created!.createdAt.getTime() };
    const rx = fakeReceiver(() => 503);
    const w = worker(rx.post, clock, { retryWindowMs: 5000 });
    for (let i = 0; i < 10; i++) {
      await w.tick();
      await w.idle();
      clock.t += 8000;
    }
    const [d] = await deliveriesOf(vmId);
    // Attempt 1 at +0 s (retry due at +1 s), attempt 2 at +8 s: a retry would fall after +5 s, so it is given up.
    expect(d).toMatchObject({ status: "failed", lastStatusCode: 503, attempts: 2 });
    expect(rx.requests).toHaveLength(2);
    expect(d!.finishedAt).not.toBeNull();
  });

  it("sends a VM's events in order: a later one waits for an earlier one still pending", async () => {
    const vmId = await newVm("http://receiver.test/ordered");
    await database.db.transaction((tx) => transitionVm(tx, vmId, "Starting", "first"));
    await database.db.transaction((tx) => transitionVm(tx, vmId, "Running", "second"));
    const clock = { t: Date.now() };
    const rx = fakeReceiver((_r, n) => (n === 1 ? 500 : 200));
    const w = worker(rx.post, clock);
    await w.tick();
    await w.idle();
    expect(rx.requests.map((r) => JSON.parse(r.body).reason)).toEqual(["first"]);
    clock.t += 1000;
    for (let i = 0; i < 2; i++) { await w.tick(); await w.idle(); }
    expect(rx.requests.map((r) => JSON.parse(r.body).reason)).toEqual(["first", "first", "second"]);
  });

  it("never sends one row from two workers; a dead worker's lease expires and another sends it", async () => {
    const vmIds = await Promise.all([1, 2, 3].map(() => newVm("http://receiver.test/lease")));
    for (const id of vmIds) await database.db.transaction((tx) => transitionVm(tx, id, "Starting", "test"));
    const clock = { t: Date.now() };
    const a = fakeReceiver(() => 200);
    const b = fakeReceiver(() => 200);
    const wa = worker(a.post, clock, {}, "a");
    const wb = worker(b.post, clock, {}, "b");
    await Promise.all([wa.tick(), wb.tick()]);
    await Promise.all([wa.idle(), wb.idle()]);
    const sent = [...a.requests, ...b.requests].map((r) => r.headers["X-Orbit-Event-Id"]);
    expect(sent).toHaveLength(3);
    expect(new Set(sent).size).toBe(3);

    // A worker that claimed a row and died: nobody sends it until its lease is over.
    const vmId = await newVm("http://receiver.test/orphan");
    await database.db.transaction((tx) => transitionVm(tx, vmId, "Starting", "test"));
    const [d] = await deliveriesOf(vmId);
    await database.db.update(callbackDeliveries).set({ leaseOwner: "dead", leaseUntil: new Date(clock.t + leaseMs(settings)) }).where(eq(callbackDeliveries.id, d!.id));
    const c = fakeReceiver(() => 200);
    const wc = worker(c.post, clock, {}, "c");
    await wc.tick();
    await wc.idle();
    expect(c.requests).toHaveLength(0);
    clock.t += leaseMs(settings) + 1;
    await wc.tick();
    await wc.idle();
    expect(c.requests).toHaveLength(1);
    expect((await deliveriesOf(vmId))[0]).toMatchObject({ status: "delivered", leaseOwner: null });
  });

  it("keeps at most `concurrency` POSTs in flight; stopping cuts them short and hands the rows back unrecorded", async () => {
    const vmIds = await Promise.all([1, 2, 3, 4, 5].map(() => newVm("http://receiver.test/hang")));
    for (const id of vmIds) await database.db.transaction((tx) => transitionVm(tx, id, "Starting", "test"));
    const clock = { t: Date.now() };
    const rx = fakeReceiver((r) => (r.url.endsWith("/hang") ? "hang" : 200));
    const w = worker(rx.post, clock, { concurrency: 2 });
    expect(await w.tick()).toBe(2);
    expect(await w.tick()).toBe(0); // full
    // The two POSTs reach the receiver (however loaded the machine), and no third follows.
    for (let i = 0; i < 500 && rx.requests.length < 2; i++) await new Promise((r) => setTimeout(r, 10));
    await new Promise((r) => setTimeout(r, 50));
    expect(rx.requests).toHaveLength(2);
    await w.stop();
    const rows = (await Promise.all(vmIds.map(deliveriesOf))).flat();
    expect(rows.every((d) => d.status === "pending" && d.attempts === 0 && d.leaseOwner === null)).toBe(true);
    for (const d of rows) expect(await attemptsOf(d.id)).toEqual([]);
  });

  it("signs with the previous secret too for the grace period after a rotation", async () => {
    const before = await secrets.get(ids.accountId);
    const now = new Date();
    const after = await secrets.rotate(ids.accountId, now);
    expect(after.secret).not.toBe(before.secret);
    expect(after.previousValidUntil!.getTime()).toBe(now.getTime() + 60_000);
    expect(await secrets.signingSecrets(ids.accountId, now)).toEqual([after.secret, before.secret]);
    expect(await secrets.signingSecrets(ids.accountId, new Date(now.getTime() + 60_001))).toEqual([after.secret]);
  });
});
