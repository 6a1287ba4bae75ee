// A manager that stops in the middle of a live migration and starts again (same database, same
// ports; the simulated hosts and their agents keep running and reconnect): the resumed vm.migrate
// job sends MigrateVm again under the same command id, the source's agent answers from its memory
// (the copy finished, or failed, while the manager was away), and the job settles. The record and
// both hosts' capacity are right afterwards. On PostgreSQL when TEST_DATABASE_URL is set, else on
// PGlite in a data folder.
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { eq } from "drizzle-orm";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startSimulatedFleet, type SimulatedFleet } from "../../dev/simulated-fleet.js";
import { loadManagerConfig, type ManagerConfig } from "../../manager/src/config.js";
import { scratchDatabaseUrl } from "../../manager/src/db/database.js";
import { allocations, commands, jobs, vmMigrations } from "../../manager/src/db/schema.js";
import { startManager, type RunningManager } from "../../manager/src/manager.js";
import { ADMIN_KEY } from "./harness.js";

const HOSTS = [
  { hostname: "rs-a", uuid: "3e5a0000-0000-4000-8000-00000000000a", cpus: 16, memoryMib: 32768 },
  { hostname: "rs-b", uuid: "3e5a0000-0000-4000-8000-00000000000b", cpus: 16, memoryMib: 32768 },
];
const log = pino({ level: process.env.ORBIT_TEST_LOG ?? "silent" });

let tmp: string;
let db: Awaited<ReturnType<typeof scratchDatabaseUrl>>;
let config: ManagerConfig;
let manager: RunningManager | undefined;
let fleet: SimulatedFleet;

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const a = s.address();
      s.close(() => resolve(typeof a === "object" && a ? a.port : 0));
    });
  });
}

async function api(method: string, route: string, body?: unknown): Promise<{ status: number; json: any }> {
  const res = await fetch(`${manager!.apiUrl}${route}`, {
    method, headers: { api_key: ADMIN_KEY, ...(body === undefined ? {} : { "content-type": "application/json" }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : {} };
}

async function waitFor<T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs = 30_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < end) {
    last = await fn().catch((e: unknown) => `error: ${(e as Error).message}`);
    if (last && !(typeof last === "string" && last.startsWith("error: "))) return last as T;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what} (last: ${JSON.stringify(last)})`);
}

const hv = (name: string) => fleet.hypervisors[HOSTS.findIndex((h) => h.hostname === name)]!;

beforeAll(async () => {
  tmp = mkdtempSync(path.join(tmpdir(), "orbit-migration-restart-"));
  db = await scratchDatabaseUrl("orbit_mig_restart");
  config = loadManagerConfig({
    ORBIT_API_PORT: String(await freePort()), ORBIT_GRPC_PORT: String(await freePort()), ORBIT_DATA_DIR: path.join(tmp, "data"),
    ORBIT_ADMIN_KEY: ADMIN_KEY, ...(db.url ? { DATABASE_URL: db.url } : {}),
  }, { profile: "embedded" });
  manager = await startManager(config, log, { initialSettings: { "ping.interval": 0.3 } });
  fleet = await startSimulatedFleet({ managerAddress: manager.grpcAddress, joinToken: manager.agentToken, log, hosts: HOSTS, heartbeatIntervalMs: 300, startDelayMs: 50 });
  await waitFor("hosts Up", async () => (await api("GET", "/v1/admin/hosts")).json.hosts?.filter((h: any) => h.state === "Up").length === 2);
}, 120_000);

afterAll(async () => {
  await fleet?.stop();
  await manager?.close();
  await db?.drop();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

async function createVm(name: string): Promise<{ id: number; uuid: string; host: string }> {
  const r = await api("POST", "/v1/core/virtual-machines", { name, flavor_name: "n1-cpu-small", image_name: "Debian 12", count: 1 });
  expect(r.status, JSON.stringify(r.json)).toBe(200);
  const id = r.json.instances[0].id as number;
  const v = await waitFor(`${name} ACTIVE`, async () => {
    const i = (await api("GET", `/v1/core/virtual-machines/${id}`)).json.instance;
    return i?.status === "ACTIVE" && i;
  });
  const uuid = (await hv(v.host).listDomains()).map((d) => d.vmUuid).find((u) => u === r.json.instances[0].uuid) ?? r.json.instances[0].uuid;
  return { id, uuid, host: v.host };
}

/** Stops the manager mid-migration, waits for `meanwhile`, starts it again on the same database and ports. */
async function restartDuring(meanwhile: () => Promise<unknown>): Promise<void> {
  await manager!.close();
  manager = undefined;
  await meanwhile();
  manager = await startManager(config, log);
}

async function expectCapacityOn(hostName: string, vmId: number, others: string[]): Promise<void> {
  const hostsView = (await api("GET", "/v1/admin/hosts")).json.hosts as any[];
  const byName = Object.fromEntries(hostsView.map((h) => [h.name, h]));
  const [a] = await manager!.database.db.select().from(allocations).where(eq(allocations.vmId, vmId));
  expect(a!.hostId).toBe(byName[hostName].id);
  for (const h of [hostName, ...others]) {
    const vmsThere = (await api("GET", "/v1/core/virtual-machines")).json.instances.filter((i: any) => i.host === h);
    expect(byName[h].allocated, h).toEqual({ vcpus: 2 * vmsThere.length, memory_mib: 4096 * vmsThere.length, vms: vmsThere.length });
  }
  expect(await manager!.database.db.select().from(vmMigrations).where(eq(vmMigrations.state, "running"))).toEqual([]);
}

/** The job was settled by the second manager (a second attempt), not finished by the first before it stopped. */
async function expectResumed(jobId: number): Promise<void> {
  const [j] = await manager!.database.db.select({ attempts: jobs.attempts }).from(jobs).where(eq(jobs.id, jobId));
  expect(j!.attempts).toBeGreaterThanOrEqual(2);
}

describe("a manager restarted during a live migration", () => {
  it("finds the VM moved while it was away and finalizes on the destination", async () => {
    const v = await createVm("rs-moved");
    const dest = v.host === "rs-a" ? "rs-b" : "rs-a";
    hv(v.host).migrationDurationMs = 3000;
    const r = await api("POST", `/v1/admin/virtual-machines/${v.id}/migrate`, { host: "auto", storage_motion: true });
    expect(r.status, JSON.stringify(r.json)).toBe(200);
    await waitFor("copy under way", async () => (await api("GET", `/v1/admin/migrations/${r.json.migration.migration_id}`)).json.migration?.progress);
    await restartDuring(async () => {
      // The copy ends on the hosts while no manager listens.
      await waitFor("domain on the destination", async () => (await hv(dest).listDomains()).some((d) => d.vmUuid === v.uuid), 15_000);
    });
    hv(v.host).migrationDurationMs = 0;
    const mig = await waitFor("migration settled", async () => {
      const m = (await api("GET", `/v1/admin/migrations/${r.json.migration.migration_id}`)).json.migration;
      return m?.state !== "running" && m;
    }, 60_000);
    expect(mig).toMatchObject({ state: "succeeded", destination_host_id: r.json.migration.destination_host_id });
    expect((await api("GET", `/v1/core/virtual-machines/${v.id}`)).json.instance).toMatchObject({ host: dest, orbit_state: "Running" });
    expect((await api("GET", `/v1/core/jobs/${r.json.migration.job_id}`)).json.job.status).toBe("succeeded");
    await expectCapacityOn(dest, v.id, [v.host]);
    await expectResumed(r.json.migration.job_id);
  }, 120_000);

  it("the source's agent restarted too (its answer lost): the destination is asked, and runs the VM", async () => {
    const v = await createVm("rs-forgot");
    const dest = v.host === "rs-a" ? "rs-b" : "rs-a";
    const src = HOSTS.findIndex((h) => h.hostname === v.host);
    hv(v.host).migrationDurationMs = 3000;
    const r = await api("POST", `/v1/admin/virtual-machines/${v.id}/migrate`, { host: "auto", storage_motion: true });
    expect(r.status, JSON.stringify(r.json)).toBe(200);
    await waitFor("copy under way", async () => (await api("GET", `/v1/admin/migrations/${r.json.migration.migration_id}`)).json.migration?.progress);
    await restartDuring(async () => {
      await waitFor("domain on the destination", async () => (await hv(dest).listDomains()).some((d) => d.vmUuid === v.uuid), 15_000);
      // A new agent process on the source: it never heard of the MigrateVm command.
      await fleet.stopAgent(src);
      void fleet.startAgent(src).catch(() => undefined); // connects once the manager is back
    });
    hv(v.host).migrationDurationMs = 0;
    const mig = await waitFor("migration settled", async () => {
      const m = (await api("GET", `/v1/admin/migrations/${r.json.migration.migration_id}`)).json.migration;
      return m?.state !== "running" && m;
    }, 60_000);
    expect(mig.state).toBe("succeeded");
    expect((await api("GET", `/v1/core/virtual-machines/${v.id}`)).json.instance).toMatchObject({ host: dest, orbit_state: "Running" });
    // Settled by asking the destination: the source answered that it does not know the VM.
    const asked = await manager!.database.db.select({ kind: commands.kind, status: commands.status, hostId: commands.hostId })
      .from(commands).where(eq(commands.jobId, r.json.migration.job_id));
    expect(asked).toContainEqual({ kind: "getVmStats", status: "succeeded", hostId: r.json.migration.destination_host_id });
    expect(asked).toContainEqual(expect.objectContaining({ kind: "migrateVm", status: "failed" }));
    await expectCapacityOn(dest, v.id, [v.host]);
    await expectResumed(r.json.migration.job_id);
  }, 120_000);

  it("finds the copy failed while it was away: the reservation goes, the VM runs on its source", async () => {
    const v = await createVm("rs-stays");
    const dest = v.host === "rs-a" ? "rs-b" : "rs-a";
    hv(v.host).migrationDurationMs = 2000;
    hv(v.host).failNextMigration = "simulated link loss while the manager was away";
    const r = await api("POST", `/v1/admin/virtual-machines/${v.id}/migrate`, { host: "auto", storage_motion: true });
    expect(r.status, JSON.stringify(r.json)).toBe(200);
    await waitFor("copy under way", async () => (await api("GET", `/v1/admin/migrations/${r.json.migration.migration_id}`)).json.migration?.progress);
    await restartDuring(() => new Promise((res) => setTimeout(res, 3000)));
    hv(v.host).migrationDurationMs = 0;
    const mig = await waitFor("migration settled", async () => {
      const m = (await api("GET", `/v1/admin/migrations/${r.json.migration.migration_id}`)).json.migration;
      return m?.state !== "running" && m;
    }, 60_000);
    expect(mig.state).toBe("failed");
    expect(mig.error.message).toMatch(/simulated link loss/);
    expect((await api("GET", `/v1/core/virtual-machines/${v.id}`)).json.instance).toMatchObject({ host: v.host, orbit_state: "Running" });
    expect((await hv(dest).listDomains()).map((d) => d.vmUuid)).not.toContain(v.uuid);
    await expectCapacityOn(v.host, v.id, [dest]);
    await expectResumed(r.json.migration.job_id);
  }, 120_000);
});
