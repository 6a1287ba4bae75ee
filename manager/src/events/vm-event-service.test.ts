// A VM's history from what is recorded: its row, its transitions and its jobs, oldest first,
// scoped like the VM (another account's or a deleted VM is not found).
import { randomUUID } from "node:crypto";
import { eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openTestDatabase, type Database } from "../db/database.js";
import { accounts, jobs, vms } from "../db/schema.js";
import { seedBasics, type FixtureIds } from "../placement/testing/placement-fixture.js";
import { transitionVm } from "../vm/vm-transitions.js";
import { VmEventService } from "./vm-event-service.js";
import { actionEvent, byTime, createdEvent, stateChangedEvent, withoutHostName } from "./vm-event.js";

let database: Database;
let ids: FixtureIds;
let other: number;
beforeAll(async () => {
  database = await openTestDatabase();
  ids = await seedBasics(database.db);
  [{ id: other }] = await database.db.insert(accounts).values({ name: "other" }).returning({ id: accounts.id }) as [{ id: number }];
});
afterAll(async () => { await database?.close(); });

async function newVm(): Promise<number> {
  const [vm] = await database.db.insert(vms).values({
    uuid: randomUUID(), name: "ev", accountId: ids.accountId, environmentId: ids.envId, flavorId: ids.flavorId, imageId: ids.imageId,
    state: "Creating", vcpus: 1, memoryMib: 1,
  }).returning({ id: vms.id });
  return vm!.id;
}

describe("VM events", () => {
  it("lists creation, actions and state changes oldest first", async () => {
    const vmId = await newVm();
    const [job] = await database.db.insert(jobs).values({ uuid: randomUUID(), kind: "vm.deploy", vmId, accountId: ids.accountId }).returning();
    await database.db.transaction((tx) => transitionVm(tx, vmId, "Starting", `job ${job!.id}: deploy`));
    await database.db.transaction((tx) => transitionVm(tx, vmId, "Error", "simulated failure"));
    await database.db.update(jobs).set({ status: "failed", finishedAt: new Date(), error: { code: "hypervisor_error", message: "disk missing", retryable: false } }).where(eq(jobs.id, job!.id));
    const events = await new VmEventService(database.db).history({ accountId: ids.accountId, role: "user" }, vmId);
    expect(events.map((e) => [e.type, e.state?.to ?? e.action?.name ?? null])).toEqual([
      ["created", null], ["action_requested", "deploy"], ["state_changed", "Starting"], ["state_changed", "Error"], ["action_failed", "deploy"],
    ]);
    expect(events[3]).toMatchObject({ reason: "simulated failure", message: "State changed from Starting to Error" });
    expect(events[4]).toMatchObject({ id: `job:${job!.id}:failed`, reason: "disk missing", action: { error: { code: "hypervisor_error", message: "disk missing" } } });
  });

  it("is not found for another account's VM or a deleted one; admins see any VM", async () => {
    const svc = new VmEventService(database.db);
    const vmId = await newVm();
    await expect(svc.history({ accountId: other, role: "user" }, vmId)).rejects.toMatchObject({ code: "not_found" });
    expect(await svc.history({ accountId: other, role: "admin" }, vmId)).toHaveLength(1);
    await database.db.transaction(async (tx) => {
      await transitionVm(tx, vmId, "Destroying", "test");
      await transitionVm(tx, vmId, "Destroyed", "test");
    });
    await expect(svc.history({ accountId: ids.accountId, role: "user" }, vmId)).rejects.toMatchObject({ code: "not_found" });
    await expect(svc.history({ accountId: ids.accountId, role: "user" }, 2_000_000_000)).rejects.toMatchObject({ code: "not_found" });
  });

  it("orders events of one instant: creation, the action asked, its effects", () => {
    const at = new Date("2026-01-01T00:00:00Z");
    const vm = { id: 1, uuid: "u", name: "n", accountId: 1, createdAt: at };
    const job = { id: 2, kind: "vm.deploy", createdAt: at, finishedAt: at, error: null };
    const shuffled = [actionEvent(vm, job, "succeeded"), actionEvent(vm, job, "requested"), createdEvent(vm)];
    expect(shuffled.sort(byTime).map((e) => e.type)).toEqual(["created", "action_requested", "action_succeeded"]);
  });

  it("shows users no host name: a cause naming the VM's host says 'its host'", () => {
    const vm = { id: 1, uuid: "u", name: "n", accountId: 1 };
    const e = stateChangedEvent(vm, { id: 5, vmId: 1, fromState: "Running", toState: "Unknown", cause: "host gpu-node-7 missed its heartbeats", at: new Date() });
    expect(withoutHostName(e, "gpu-node-7").reason).toBe("its host missed its heartbeats");
    expect(withoutHostName(e, null)).toBe(e);
  });
});
