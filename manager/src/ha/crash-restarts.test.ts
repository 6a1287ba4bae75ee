// A crash restart's wait is kept in the VM's row, not in a timer: a manager restarted during the
// backoff (here: a second CrashRestarts on the same database, as the next process would build)
// restarts the VM once it is due, exactly once; a user's action meanwhile cancels it. Real
// database (PostgreSQL when TEST_DATABASE_URL is set, else PGlite), fake clock.
import { randomUUID } from "node:crypto";
import { eq, sql } from "drizzle-orm";
import pino from "pino";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { buildPolicy, policyConfigFromSettings } from "../allocator/index.js";
import { openTestDatabase, type Database } from "../db/database.js";
import { hosts, jobs, vms } from "../db/schema.js";
import { PlacementService } from "../placement/placement-service.js";
import { seedFleet, sqlRows, type FixtureIds } from "../placement/testing/placement-fixture.js";
import { transitionVm } from "../vm/vm-transitions.js";
import { CrashRestarts } from "./crash-restarts.js";
import type { HaSettings } from "./ha-settings.js";

let database: Database;
let ids: FixtureIds;
let vmId: number;
const settings = { enabled: () => true, maxRetries: () => 3, restartBackoffMs: () => 10_000, timeBetweenFailuresMs: () => 3_600_000 } as unknown as HaSettings;
const log = pino({ level: "silent" });

beforeAll(async () => {
  database = await openTestDatabase();
  ids = await seedFleet(database.db, { hosts: 1, cpus: 16, memoryMib: 32768, reserveMib: 0, gpuHosts: ["h1"], gpusPerHost: 1 });
  await database.db.update(hosts).set({ state: "Up" });
}, 60_000);
afterAll(async () => { await database?.close(); });

beforeEach(async () => {
  const db = database.db;
  await sqlRows(db, sql`delete from jobs`);
  const policy = buildPolicy(policyConfigFromSettings({}));
  const uuid = randomUUID();
  const placed = await new PlacementService({ db, policy: () => policy, groupCommit: false }).placeAndCommit(
    { accountId: String(ids.accountId), environment: "env", vcpus: 1, memoryMib: 1024 },
    { vm: () => ({ uuid, name: `crash-${uuid.slice(0, 8)}`, accountId: ids.accountId, environmentId: ids.envId, flavorId: ids.flavorId, imageId: ids.imageId }) },
  );
  vmId = placed.vms[0]!.id;
  await sqlRows(db, sql`delete from jobs`);
  // Running with HA on, then its domain stops by itself (the reconciler's Running → Stopped).
  await db.update(vms).set({ state: "Stopped", haEnabled: true }).where(eq(vms.id, vmId));
});

function clockAt(ms: number) { return () => new Date(ms); }

describe("crash restarts", () => {
  it("survive a manager restart: the next process restarts the VM when its backoff is over, once", async () => {
    const t0 = Date.parse("2026-12-05T00:00:00Z");
    const queued: number[] = [];
    const first = new CrashRestarts(database.db, { enqueue: (id) => queued.push(id) }, settings, log, clockAt(t0));
    await first.stoppedByItself(vmId, "crashed");
    const [row] = await database.db.select().from(vms).where(eq(vms.id, vmId));
    expect(row!.crashRestartDueAt?.getTime()).toBeGreaterThan(t0);
    const due = row!.crashRestartDueAt!.getTime();
    // The manager dies; the next one starts before the VM is due: nothing yet.
    const early = new CrashRestarts(database.db, { enqueue: (id) => queued.push(id) }, settings, log, clockAt(due - 1));
    expect(await early.restartDue()).toBe(0);
    const next = new CrashRestarts(database.db, { enqueue: (id) => queued.push(id) }, settings, log, clockAt(due));
    expect(await next.restartDue()).toBe(1);
    expect(await next.restartDue()).toBe(0);
    const [after] = await database.db.select().from(vms).where(eq(vms.id, vmId));
    expect(after).toMatchObject({ state: "Starting", crashRestarts: 1, crashRestartDueAt: null });
    const started = await database.db.select().from(jobs).where(eq(jobs.vmId, vmId));
    expect(started.map((j) => j.kind)).toEqual(["vm.start"]);
    expect(queued).toEqual([started[0]!.id]);
  });

  it("a user's action during the backoff cancels it", async () => {
    const t0 = Date.parse("2026-12-05T01:00:00Z");
    const restarts = new CrashRestarts(database.db, { enqueue: () => undefined }, settings, log, clockAt(t0));
    await restarts.stoppedByItself(vmId, "crashed");
    // The user deletes it (Stopped → Destroying) before HA's turn.
    await database.db.transaction((tx) => transitionVm(tx, vmId, "Destroying", "test: user delete"));
    const later = new CrashRestarts(database.db, { enqueue: () => undefined }, settings, log, clockAt(t0 + 3_600_000));
    expect(await later.restartDue()).toBe(0);
    expect((await database.db.select().from(vms).where(eq(vms.id, vmId)))[0]).toMatchObject({ state: "Destroying", crashRestartDueAt: null });
  });
});
