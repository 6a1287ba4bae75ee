// vm.destroy.timeout.ms (was a hard-coded 120 s): the destroy command's deadline follows the
// setting as it is when the job runs.
import { randomUUID } from "node:crypto";
import pino from "pino";
import { afterAll, beforeAll, expect, it } from "vitest";
import type { Command } from "#shared/protocol.js";
import { openTestDatabase, type Database } from "../db/database.js";
import { hosts, jobs, vms } from "../db/schema.js";
import { seedFleet, type FixtureIds } from "../placement/testing/placement-fixture.js";
import { SettingsRegistry } from "../settings/settings-registry.js";
import { VM_DESTROY_TIMEOUT_SETTING, vmDestroyJob } from "./vm-destroy.job.js";

let database: Database;
let ids: FixtureIds;
let hostId: number;
beforeAll(async () => {
  database = await openTestDatabase();
  ids = await seedFleet(database.db, { hosts: 1, cpus: 8, memoryMib: 16384, reserveMib: 0, gpuHosts: ["none"], gpusPerHost: 0 });
  const [h] = await database.db.select().from(hosts).limit(1);
  hostId = h!.id;
});
afterAll(async () => { await database?.close(); });

async function destroyTimeout(registry: SettingsRegistry): Promise<number | undefined> {
  const [vm] = await database.db.insert(vms).values({
    uuid: randomUUID(), name: "v", accountId: ids.accountId, environmentId: ids.envId, flavorId: ids.flavorId, imageId: ids.imageId,
    state: "Destroying", vcpus: 1, memoryMib: 1, hostId,
  }).returning();
  const [job] = await database.db.insert(jobs).values({ uuid: randomUUID(), kind: "vm.destroy", vmId: vm!.id, accountId: ids.accountId }).returning();
  let timeoutMs: number | undefined;
  let deadline = 0;
  const dispatcher = {
    run: async (_h: number, c: Command, o: { timeoutMs: number }) => { timeoutMs = o.timeoutMs; deadline = c.deadlineMs - Date.now(); return {}; },
  };
  await vmDestroyJob(database.db, dispatcher as never, registry)({
    job: job!, attempt: 1, log: pino({ level: "silent" }), progress: async () => {}, signal: new AbortController().signal,
  });
  expect(deadline).toBeGreaterThan(timeoutMs! - 5000);
  expect(deadline).toBeLessThanOrEqual(timeoutMs!);
  return timeoutMs;
}

it("waits vm.destroy.timeout.ms for the agent: 120 s by default, the setting's value once changed", async () => {
  const registry = new SettingsRegistry();
  expect(await destroyTimeout(registry)).toBe(120_000);
  registry.setLocal(VM_DESTROY_TIMEOUT_SETTING, 7000);
  expect(await destroyTimeout(registry)).toBe(7000);
});
