// A manager that stops in the middle of a live migration and starts again (same database, same
// ports; the simulated hosts and their agents keep running and reconnect): the resumed vm.migrate
// job sends MigrateVm again under the same command id, the source's agent answers from its memory
// (the copy finished, or failed, while the manager was away), and the job settles. The record and
// both hosts' capacity are right afterwards. On PostgreSQL when TEST_DATABASE_URL is set, else on
// PGlite in a data folder.
import { eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { allocations, commands, jobs, vmMigrations } from "../../manager/src/db/schema.js";
import { startRestartableCloud, type RestartableCloud } from "./restartable-cloud.js";

const HOSTS = [
  { hostname: "rs-a", uuid: "3e5a0000-0000-4000-8000-00000000000a", cpus: 16, memoryMib: 32768 },
  { hostname: "rs-b", uuid: "3e5a0000-0000-4000-8000-00000000000b", cpus: 16, memoryMib: 32768 },
];

let cloud: RestartableCloud;
const api = (method: string, route: string, body?: unknown) => cloud.api(method, route, body);
const waitFor = <T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs?: number) => cloud.waitFor(what, fn, timeoutMs);
const hv = (name: string) => cloud.hv(name);

beforeAll(async () => {
  cloud = await startRestartableCloud({ hosts: HOSTS, name: "mig-restart" });
}, 120_000);

afterAll(async () => {
  await cloud?.stop();
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
  await cloud.restart(meanwhile);
}

async function expectCapacityOn(hostName: string, vmId: number, others: string[]): Promise<void> {
  const hostsView = (await api("GET", "/v1/admin/hosts")).json.hosts as any[];
  const byName = Object.fromEntries(hostsView.map((h) => [h.name, h]));
  const [a] = await cloud.manager.database.db.select().from(allocations).where(eq(allocations.vmId, vmId));
  expect(a!.hostId).toBe(byName[hostName].id);
  for (const h of [hostName, ...others]) {
    const vmsThere = (await api("GET", "/v1/core/virtual-machines")).json.instances.filter((i: any) => i.host === h);
    expect(byName[h].allocated, h).toEqual({ vcpus: 2 * vmsThere.length, memory_mib: 4096 * vmsThere.length, vms: vmsThere.length });
  }
  expect(await cloud.manager.database.db.select().from(vmMigrations).where(eq(vmMigrations.state, "running"))).toEqual([]);
}

/** The job was settled by the second manager (a second attempt), not finished by the first before it stopped. */
async function expectResumed(jobId: number): Promise<void> {
  const [j] = await cloud.manager.database.db.select({ attempts: jobs.attempts }).from(jobs).where(eq(jobs.id, jobId));
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
      await cloud.fleet.stopAgent(src);
      void cloud.fleet.startAgent(src).catch(() => undefined); // connects once the manager is back
    });
    hv(v.host).migrationDurationMs = 0;
    const mig = await waitFor("migration settled", async () => {
      const m = (await api("GET", `/v1/admin/migrations/${r.json.migration.migration_id}`)).json.migration;
      return m?.state !== "running" && m;
    }, 60_000);
    expect(mig.state).toBe("succeeded");
    expect((await api("GET", `/v1/core/virtual-machines/${v.id}`)).json.instance).toMatchObject({ host: dest, orbit_state: "Running" });
    // Settled by asking the destination: the source answered that it does not know the VM.
    const asked = await cloud.manager.database.db.select({ kind: commands.kind, status: commands.status, hostId: commands.hostId })
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
