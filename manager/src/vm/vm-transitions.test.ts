// State transitions on the real database (PGlite, or PostgreSQL with TEST_DATABASE_URL): the one
// statement that locks, checks, moves and records; transitionVmNow's own-transaction path and
// its fall back to a transaction when a callback must commit with the move.
import { randomUUID } from "node:crypto";
import { eq, sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openTestDatabase, type Database } from "../db/database.js";
import { accounts, callbackDeliveries, environments, flavors, images, vms, vmStateTransitions } from "../db/schema.js";
import { transitionVm, transitionVmNow } from "./vm-transitions.js";

let database: Database;
let ids: { account: number; environment: number; flavor: number; image: number };

beforeAll(async () => {
  database = await openTestDatabase();
  const db = database.db;
  const [account] = await db.insert(accounts).values({ name: "transitions" }).returning();
  const [environment] = await db.insert(environments).values({ name: "transitions", accountId: account!.id, regionId: 1 }).returning();
  const [flavor] = await db.insert(flavors).values({ name: "tr-f", vcpus: 1, memoryMib: 128 }).returning();
  const [image] = await db.insert(images).values({ name: "tr-i" }).returning();
  ids = { account: account!.id, environment: environment!.id, flavor: flavor!.id, image: image!.id };
}, 60_000);
afterAll(async () => { await database?.close(); });

async function vm(state: string, o: { callbackUrl?: string; crashRestartDueAt?: Date } = {}) {
  const [row] = await database.db.insert(vms).values({
    uuid: randomUUID(), name: "v", accountId: ids.account, environmentId: ids.environment, flavorId: ids.flavor, imageId: ids.image,
    state, vcpus: 1, memoryMib: 128, callbackUrl: o.callbackUrl ?? "", crashRestartDueAt: o.crashRestartDueAt ?? null,
  }).returning();
  return row!;
}
const history = (vmId: number) => database.db.select().from(vmStateTransitions).where(eq(vmStateTransitions.vmId, vmId));
const deliveries = (vmId: number) => database.db.select().from(callbackDeliveries).where(eq(callbackDeliveries.vmId, vmId));

describe("transitionVm", () => {
  it("moves the row and records the change in one go, answering the row as written", async () => {
    const v = await vm("Creating");
    const moved = await database.db.transaction((tx) => transitionVm(tx, v.id, "Starting", "test: deploy", { reason: "r", powerState: "NOSTATE" }));
    expect(moved?.from).toBe("Creating");
    expect(moved?.vm).toMatchObject({ id: v.id, uuid: v.uuid, state: "Starting", stateReason: "r", powerState: "NOSTATE", memoryMib: 128 });
    expect(moved?.vm.updatedAt).toBeInstanceOf(Date);
    const [stored] = await database.db.select().from(vms).where(eq(vms.id, v.id));
    expect(moved?.vm).toEqual(stored);
    expect((await history(v.id)).map((h) => [h.fromState, h.toState, h.cause])).toEqual([["Creating", "Starting", "test: deploy"]]);
  });

  it("does nothing outside onlyFrom or to the same state, refuses what the state machine forbids, 404s an unknown VM", async () => {
    const v = await vm("Running");
    expect(await transitionVm(database.db, v.id, "Starting", "t", { onlyFrom: ["Creating"] })).toBeNull();
    expect(await transitionVm(database.db, v.id, "Running", "t")).toBeNull();
    await expect(transitionVm(database.db, v.id, "Creating", "t")).rejects.toMatchObject({ code: "conflict" });
    await expect(transitionVm(database.db, 999_999, "Running", "t")).rejects.toMatchObject({ code: "not_found" });
    expect(await history(v.id)).toEqual([]);
    expect((await database.db.select().from(vms).where(eq(vms.id, v.id)))[0]?.state).toBe("Running");
  });

  it("keeps the power state unless given, and clears a pending crash restart on the way out of Stopped", async () => {
    const v = await vm("Stopped", { crashRestartDueAt: new Date(Date.now() + 60_000) });
    const moved = await database.db.transaction((tx) => transitionVm(tx, v.id, "Starting", "t"));
    expect(moved?.vm.powerState).toBe(v.powerState);
    expect(moved?.vm.crashRestartDueAt).toBeNull();
  });

  it("takes a stored state it does not know as Unknown (statement by statement)", async () => {
    const v = await vm("Creating");
    await database.db.execute(sql`update vms set state = 'Bogus' where id = ${v.id}`);
    const moved = await database.db.transaction((tx) => transitionVm(tx, v.id, "Running", "t"));
    expect(moved?.from).toBe("Unknown");
    expect(moved?.vm.state).toBe("Running");
    expect((await history(v.id)).map((h) => h.fromState)).toEqual(["Unknown"]);
  });
});

describe("transitionVmNow", () => {
  it("moves a VM without a callback URL by itself", async () => {
    const v = await vm("Creating");
    const moved = await transitionVmNow(database.db, v.id, "Starting", "t", { onlyFrom: ["Creating"] });
    expect(moved?.vm.state).toBe("Starting");
    expect(await history(v.id)).toHaveLength(1);
    expect(await transitionVmNow(database.db, v.id, "Starting", "t", { onlyFrom: ["Creating"] })).toBeNull();
  });

  it("queues a VM's callback with its move (in a transaction), once per move", async () => {
    const v = await vm("Creating", { callbackUrl: "https://example.com/hook" });
    const moved = await transitionVmNow(database.db, v.id, "Starting", "t", { onlyFrom: ["Creating"] });
    expect(moved?.vm.state).toBe("Starting");
    expect(await history(v.id)).toHaveLength(1);
    const queued = await deliveries(v.id);
    expect(queued).toHaveLength(1);
    expect(queued[0]!.url).toBe("https://example.com/hook");
  });

  it("moves to a state that holds no capacity through transitionVm's transaction", async () => {
    const v = await vm("Starting");
    const moved = await transitionVmNow(database.db, v.id, "Error", "t");
    expect(moved?.vm.state).toBe("Error");
    expect(await history(v.id)).toHaveLength(1);
  });
});
