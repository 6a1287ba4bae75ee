// A vm.migrate job that failed for good after it sent MigrateVm (an error the job did not expect:
// attempts used up on database conflicts, a host away) must not leave the VM Migrating with the
// destination's capacity held: the failure hook asks both hosts where the domain runs and settles
// on that; only when neither answers does it leave the migration running. Fake hosts, real
// database (PostgreSQL when TEST_DATABASE_URL is set, else PGlite).
import { randomUUID } from "node:crypto";
import { eq, sql } from "drizzle-orm";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { OrbitError } from "#shared/errors.js";
import { PowerState } from "#shared/protocol.js";
import type { CommandDispatcher } from "../agents/command-dispatcher.js";
import { openTestDatabase, type Database } from "../db/database.js";
import { allocations, commands, hosts, jobs, vmMigrations, vms } from "../db/schema.js";
import { PlacementService } from "../placement/placement-service.js";
import { seedFleet, sqlRows, type FixtureIds } from "../placement/testing/placement-fixture.js";
import { buildPolicy, policyConfigFromSettings } from "../allocator/index.js";
import { onMigrateJobFailed } from "./migration-settle.js";

let database: Database;
let ids: FixtureIds;
let h1: number;
let h2: number;

beforeAll(async () => {
  database = await openTestDatabase();
  ids = await seedFleet(database.db, { hosts: 2, cpus: 16, memoryMib: 32768, reserveMib: 0, gpuHosts: ["h2"], gpusPerHost: 1 });
  const all = await database.db.select().from(hosts);
  h1 = all.find((h) => h.name === "h1")!.id;
  h2 = all.find((h) => h.name === "h2")!.id;
}, 60_000);
afterAll(async () => { await database?.close(); });

let vmId: number;
let vmUuid: string;
let job: { id: number; uuid: string; kind: string };
let migrationId: number;

beforeEach(async () => {
  const db = database.db;
  await sqlRows(db, sql`delete from commands`);
  await sqlRows(db, sql`delete from vm_migrations`);
  const policy = buildPolicy(policyConfigFromSettings({}));
  const svc = new PlacementService({ db, policy: () => policy, groupCommit: false });
  vmUuid = randomUUID();
  const placed = await svc.placeAndCommit(
    { accountId: String(ids.accountId), environment: "env", vcpus: 2, memoryMib: 2048, hostId: String(h1) },
    { vm: () => ({ uuid: vmUuid, name: `mig-${vmUuid.slice(0, 8)}`, accountId: ids.accountId, environmentId: ids.envId, flavorId: ids.flavorId, imageId: ids.imageId }) },
  );
  vmId = placed.vms[0]!.id;
  await db.update(vms).set({ state: "Migrating" }).where(eq(vms.id, vmId));
  const [j] = await db.insert(jobs).values({ uuid: randomUUID(), kind: "vm.migrate", vmId, accountId: ids.accountId, status: "failed" }).returning();
  job = { id: j!.id, uuid: j!.uuid, kind: j!.kind };
  const [m] = await db.insert(vmMigrations).values({
    vmId, jobId: job.id, sourceHostId: h1, destinationHostId: h2, mode: "live", wasRunning: true, reservedVcpus: 2, reservedMemoryMib: 2048,
  }).returning();
  migrationId = m!.id;
  // The job got as far as sending MigrateVm to the source.
  await db.insert(commands).values({ id: randomUUID(), hostId: h1, vmId, jobId: job.id, kind: "migrateVm", status: "failed" });
});

type Answer = PowerState | "not_found" | "unreachable";
function hostsAnswering(by: Record<number, Answer>): { run: CommandDispatcher["run"]; asked: number[] } {
  const asked: number[] = [];
  const run = (async (hostId: number) => {
    asked.push(hostId);
    const a = by[hostId];
    if (a === "not_found") throw new OrbitError("not_found", "no such domain");
    if (a === "unreachable" || a === undefined) throw new OrbitError("agent_unavailable", "host away", { retryable: true });
    return { commandId: "x", domain: { vmUuid, name: "d", powerState: a } };
  }) as unknown as CommandDispatcher["run"];
  return { run, asked };
}

async function now() {
  const db = database.db;
  const [m] = await db.select().from(vmMigrations).where(eq(vmMigrations.id, migrationId));
  const [v] = await db.select().from(vms).where(eq(vms.id, vmId));
  const [a] = await db.select().from(allocations).where(eq(allocations.vmId, vmId));
  return { migration: m!.state, vm: v!.state, vmHost: v!.hostId, allocationHost: a?.hostId };
}

const error = { code: "conflict", message: "the database aborted this change (deadlock detected)" };

describe("a vm.migrate job that failed for good after MigrateVm was sent", () => {
  it("the destination runs the VM: it moved, capacity goes there", async () => {
    const hostsNow = hostsAnswering({ [h2]: PowerState.POWER_STATE_RUNNING });
    await onMigrateJobFailed(database.db, job, error, hostsNow);
    expect(await now()).toEqual({ migration: "succeeded", vm: "Running", vmHost: h2, allocationHost: h2 });
  });

  it("the destination does not know it and the source runs it: it stayed, the reservation goes", async () => {
    const hostsNow = hostsAnswering({ [h2]: "not_found", [h1]: PowerState.POWER_STATE_RUNNING });
    await onMigrateJobFailed(database.db, job, error, hostsNow);
    expect(await now()).toEqual({ migration: "failed", vm: "Running", vmHost: h1, allocationHost: h1 });
    expect(hostsNow.asked).toEqual([h2, h1]);
  });

  it("neither host answers: nothing is guessed, the migration stays running with its reservation", async () => {
    const warned: string[] = [];
    const hostsNow = hostsAnswering({ [h2]: "unreachable", [h1]: "unreachable" });
    await onMigrateJobFailed(database.db, job, error, hostsNow, { warn: (_o, msg) => warned.push(msg) });
    expect(await now()).toEqual({ migration: "running", vm: "Migrating", vmHost: h1, allocationHost: h1 });
    expect(warned.join()).toMatch(/did not say where the VM is/);
  });

  it("a migration settled already is left alone", async () => {
    await database.db.update(vmMigrations).set({ state: "succeeded" }).where(eq(vmMigrations.id, migrationId));
    const hostsNow = hostsAnswering({});
    await onMigrateJobFailed(database.db, job, error, hostsNow);
    expect(hostsNow.asked).toEqual([]);
  });
});
