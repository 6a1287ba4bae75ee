// Host maintenance across a manager restart (same database, same ports; the simulated hosts keep
// running and reconnect): the resumed host.maintenance job re-reads its record, follows the
// migrations it started instead of starting them again, and ends where the hosts say. On
// PostgreSQL when TEST_DATABASE_URL is set, else on PGlite in a data folder.
import { eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { jobs, vmMigrations } from "../../manager/src/db/schema.js";
import { startRestartableCloud, type RestartableCloud } from "./restartable-cloud.js";

const HOSTS = [
  { hostname: "mr-a", uuid: "3e5b0000-0000-4000-8000-00000000000a", cpus: 16, memoryMib: 32768 },
  { hostname: "mr-b", uuid: "3e5b0000-0000-4000-8000-00000000000b", cpus: 16, memoryMib: 32768 },
];

let cloud: RestartableCloud;
const api = (method: string, route: string, body?: unknown) => cloud.api(method, route, body);
const waitFor = <T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs?: number) => cloud.waitFor(what, fn, timeoutMs);
const hv = (name: string) => cloud.hv(name);

beforeAll(async () => {
  cloud = await startRestartableCloud({ hosts: HOSTS, name: "maint-restart" });
}, 120_000);

afterAll(async () => {
  await cloud?.stop();
});

const hostId = async (name: string) => (await api("GET", "/v1/admin/hosts")).json.hosts.find((h: any) => h.name === name).id as number;

describe("host maintenance across a manager restart", () => {
  it("the resumed job carries on from its record: each VM migrated once, a failed copy leaves ErrorInMaintenance, the others moved", async () => {
    const a = await hostId("mr-a");
    const b = await hostId("mr-b");
    expect((await api("PUT", `/v1/admin/hosts/${b}`, { resource_state: "Disabled" })).status).toBe(200);
    const r = await api("POST", "/v1/core/virtual-machines", { name: "mr", flavor_name: "n1-cpu-small", image_name: "Debian 12", count: 3 });
    expect(r.status, JSON.stringify(r.json)).toBe(200);
    const ids = r.json.instances.map((i: any) => i.id as number);
    await waitFor("VMs ACTIVE on mr-a", async () => {
      const all = (await api("GET", "/v1/core/virtual-machines")).json.instances as any[];
      return all.filter((i) => ids.includes(i.id) && i.status === "ACTIVE" && i.host === "mr-a").length === 3;
    });
    expect((await api("PUT", `/v1/admin/hosts/${b}`, { resource_state: "Enabled" })).status).toBe(200);
    hv("mr-a").migrationDurationMs = 2500;
    hv("mr-a").failNextMigration = "simulated link loss during maintenance";

    const started = await api("POST", `/v1/admin/hosts/${a}/maintenance`, {});
    expect(started.status, JSON.stringify(started.json)).toBe(202);
    const jobId = started.json.maintenance.job_id as number;
    await waitFor("migrations under way", async () => {
      const m = (await api("GET", `/v1/admin/hosts/${a}/maintenance`)).json.maintenance;
      return m?.vms?.filter((v: any) => v.status === "migrating").length === 3;
    });
    await cloud.restart(() => new Promise((res) => setTimeout(res, 500)));
    hv("mr-a").migrationDurationMs = 0;

    const done = await waitFor("maintenance settled", async () => {
      const m = (await api("GET", `/v1/admin/hosts/${a}/maintenance`)).json.maintenance;
      return m && m.resource_state !== "PrepareForMaintenance" && !m.vms.some((v: any) => v.status === "migrating") && m;
    }, 60_000);
    expect(done.resource_state).toBe("ErrorInMaintenance");
    const failed = done.vms.filter((v: any) => v.status === "failed");
    expect(failed).toHaveLength(1);
    expect(failed[0].error).toMatch(/simulated link loss during maintenance/);
    expect(done.vms.filter((v: any) => v.status === "moved")).toHaveLength(2);
    expect(done).toMatchObject({ vms_total: 3, vms_moved: 2, vms_remaining: 1 });
    // Each VM was migrated once: the resumed job followed the migrations it had started.
    const rows = await cloud.manager.database.db.select({ vmId: vmMigrations.vmId }).from(vmMigrations);
    expect(rows.map((m) => m.vmId).sort()).toEqual([...ids].sort());
    const [j] = await cloud.manager.database.db.select().from(jobs).where(eq(jobs.id, jobId));
    expect(j).toMatchObject({ status: "succeeded", result: { resource_state: "ErrorInMaintenance" } });
    expect(j!.attempts).toBeGreaterThanOrEqual(2);
    const all = (await api("GET", "/v1/core/virtual-machines")).json.instances as any[];
    expect(all.find((i) => i.id === failed[0].vm_id)).toMatchObject({ host: "mr-a", status: "ACTIVE" });

    // Again: the failed VM is retried and the host reaches Maintenance.
    expect((await api("POST", `/v1/admin/hosts/${a}/maintenance`, {})).status).toBe(202);
    const again = await waitFor("Maintenance", async () => {
      const m = (await api("GET", `/v1/admin/hosts/${a}/maintenance`)).json.maintenance;
      return m?.resource_state === "Maintenance" && m;
    }, 30_000);
    expect(again).toMatchObject({ vms_total: 3, vms_moved: 3, vms_remaining: 0 });
    expect(((await api("GET", "/v1/core/virtual-machines")).json.instances as any[]).map((i) => i.host)).toEqual(["mr-b", "mr-b", "mr-b"]);
  }, 180_000);
});
