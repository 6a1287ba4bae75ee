// Two `orbit-manager` processes on one PostgreSQL database: a setting changed through one is in
// effect on the other within a second (LISTEN/NOTIFY), both for the value it answers and for its
// allocator's next placement. PostgreSQL only: on PGlite a manager is the only process.
import { afterAll, describe, expect, it } from "vitest";
import { scratchDatabaseUrl } from "../../manager/src/db/database.js";
import { AgentProcess, ManagerProcess, waitFor } from "./processes.js";

/** How long until `check` holds, polled every 20 ms; fails past `limitMs`. */
async function within(limitMs: number, check: () => Promise<boolean>): Promise<number> {
  const start = Date.now();
  while (!(await check())) {
    if (Date.now() - start > limitMs) throw new Error(`not seen within ${limitMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
  return Date.now() - start;
}

describe.runIf(process.env.TEST_DATABASE_URL)("two managers on one PostgreSQL", () => {
  const cleanup: (() => Promise<void>)[] = [];
  afterAll(async () => { for (const c of cleanup.reverse()) await c().catch(() => undefined); });

  it("a change made on one is seen by the other within one second, by its API and its allocator", async () => {
    const db = await scratchDatabaseUrl("orbit_fault", { migrated: true });
    cleanup.push(db.drop);
    const a = await ManagerProcess.start({ databaseUrl: db.url! });
    cleanup.push(() => a.stop());
    const b = await ManagerProcess.start({ databaseUrl: db.url! });
    cleanup.push(() => b.stop());
    const agent = new AgentProcess({ managerAddress: a.grpcAddress, joinToken: a.joinToken, hostname: "two-mgr-1", cpus: 4 });
    cleanup.push(() => agent.stop());
    await waitFor("the host Up", async () => ((await a.api("GET", "/v1/admin/hosts")).json.hosts as { state: string }[] | undefined)?.[0]?.state === "Up");
    const clusterId = (await a.api("GET", "/v1/admin/clusters")).json.clusters[0].id as number;
    expect((await a.api("POST", "/v1/admin/flavors", { name: "two-mgr-6", cpu: 6, ram: 1 })).status).toBe(201);
    const fitsOnB = async () => (await b.api("POST", "/v1/admin/placement/dry-run", { flavor_name: "two-mgr-6" })).json.result.ok as boolean;
    expect(await fitsOnB()).toBe(false); // 6 vCPUs, 4 CPUs, factor 1

    // A global value.
    expect((await a.api("PUT", "/v1/admin/settings/vm.deploy.timeout.ms", { value: 240_000 })).status).toBe(200);
    const seen = await within(1000, async () => (await b.api("GET", "/v1/admin/settings/vm.deploy.timeout.ms")).json.setting.value === 240_000);
    expect(seen).toBeLessThan(1000);

    // A cluster value, read by B's allocator on its next placement (its cached snapshot is dropped).
    expect((await a.api("PUT", `/v1/admin/settings/cpu.overprovisioning.factor?scope=cluster&scope_id=${clusterId}`, { value: 2 })).status).toBe(200);
    expect(await within(1000, fitsOnB)).toBeLessThan(1000);
    expect((await a.api("DELETE", `/v1/admin/settings/cpu.overprovisioning.factor?scope=cluster&scope_id=${clusterId}`)).status).toBe(200);
    expect(await within(1000, async () => !(await fitsOnB()))).toBeLessThan(1000);

    // A global allocator setting: B rebuilds its policy.
    expect((await a.api("PUT", "/v1/admin/settings/cpu.overprovisioning.factor", { value: 2 })).status).toBe(200);
    expect(await within(1000, fitsOnB)).toBeLessThan(1000);

    // Both answer the same audit.
    const audit = (await b.api("GET", "/v1/admin/settings/audit?page_size=10")).json;
    expect(audit.count).toBe(4);
    expect(audit.changes[0]).toMatchObject({ name: "cpu.overprovisioning.factor", scope: "global", new_value: 2 });
  }, 120_000);
});
