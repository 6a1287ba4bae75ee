// Two `orbit-manager` processes on one PostgreSQL database, agents configured with both. A VM
// created through B while its host's stream is on A reaches Running (the commands go through
// PostgreSQL: B writes them, A sends them); its console opened through B is forwarded to A;
// A is killed (SIGKILL): its agents reconnect to B
// within 10 s, and power actions through B then work on its own streams. PostgreSQL only: on
// PGlite a manager is the only process.
import { afterAll, describe, expect, it } from "vitest";
import { eq, inArray } from "drizzle-orm";
import { openDatabase, scratchDatabaseUrl, type Database } from "../../manager/src/db/database.js";
import { commands, hosts, managerInstances } from "../../manager/src/db/schema.js";
import { connectConsole } from "../e2e/console-client.js";
import { AgentProcess, ManagerProcess, waitFor } from "./processes.js";

interface VmView { id: number; status: string; orbit_state: string }

if (!process.env.TEST_DATABASE_URL) {
  describe("two managers on one PostgreSQL", () => {
    it.skip("needs PostgreSQL (TEST_DATABASE_URL): managers share a database only there", () => {});
  });
}

describe.runIf(process.env.TEST_DATABASE_URL)("two managers on one PostgreSQL: any manager serves any call, agents fail over", () => {
  const cleanup: (() => Promise<void>)[] = [];
  afterAll(async () => { for (const c of cleanup.reverse()) await c().catch(() => undefined); });

  it("routes a command to the host's manager, and agents reach the other within 10 s of a SIGKILL", async () => {
    const scratch = await scratchDatabaseUrl("orbit_fault", { migrated: true });
    cleanup.push(scratch.drop);
    // A 3 s host window (0.5 s x 6): agents are told a 1.5 s reconnect cap.
    const a = await ManagerProcess.start({ databaseUrl: scratch.url!, settings: { "ping.interval": 0.5, "ping.timeout": 6 } });
    cleanup.push(() => a.stop());
    const b = await ManagerProcess.start({ databaseUrl: scratch.url! });
    cleanup.push(() => b.stop());
    const database: Database = await openDatabase({ url: scratch.url! });
    cleanup.push(() => database.close());
    const db = database.db;

    const managerIdAt = async (agentAddress: string) => (await db.select({ id: managerInstances.id }).from(managerInstances)
      .where(eq(managerInstances.agentAddress, agentAddress)))[0]?.id;
    const idA = await waitFor("A's manager row", () => managerIdAt(a.grpcAddress));
    const idB = await waitFor("B's manager row", () => managerIdAt(b.grpcAddress));

    // Both agents dial A first (manager), B is their second (managers).
    const agents = [1, 2].map((i) => new AgentProcess({
      managerAddress: a.grpcAddress, joinToken: a.joinToken, hostname: `two-mgr-host-${i}`, startDelayMs: 100,
      extra: { managers: [b.grpcAddress] },
    }));
    for (const ag of agents) cleanup.push(() => ag.stop());
    const holders = async () => (await db.select({ name: hosts.name, state: hosts.state, manager: hosts.connectedManagerId }).from(hosts));
    await waitFor("both hosts Up on A", async () => {
      const hs = await holders();
      return hs.length === 2 && hs.every((h) => h.state === "Up" && h.manager === idA);
    }, 60_000);

    // Created through B: B's job sends the commands, A holds the streams.
    const created = await b.api("POST", "/v1/core/virtual-machines", { name: "routed-1", flavor_name: "n1-cpu-small", image_name: "Debian 12", count: 1 });
    expect(created.status, JSON.stringify(created.json)).toBe(200);
    const vmId = created.json.instances[0].id as number;
    const view = async (m: ManagerProcess) => (await m.api("GET", `/v1/core/virtual-machines/${vmId}`)).json.instance as VmView;
    await waitFor("the VM Running (seen through B)", async () => (await view(b)).status === "ACTIVE", 60_000);
    const routed = await db.select({ kind: commands.kind, status: commands.status, request: commands.request, result: commands.result })
      .from(commands).where(eq(commands.vmId, vmId));
    expect(routed.length).toBeGreaterThan(0);
    // Every command of the deploy went through PostgreSQL (B had no stream) and came back answered.
    for (const c of routed) expect(c).toMatchObject({ status: "succeeded", request: expect.any(String), result: expect.any(String) });
    expect(routed.map((c) => c.kind)).toContain("startVm");
    // Every manager tells its agents both addresses.
    const told = agents[0]!.handle.logs().filter((l) => l.msg === "managers to fail over to changed").at(-1);
    expect(told?.managers).toEqual(expect.arrayContaining([a.grpcAddress, b.grpcAddress]));

    // The console through B (a load balancer may send any call anywhere): B's socket is forwarded
    // to A, which holds the stream; the token is used once; close-console through B ends A's session.
    const opened = await b.api("POST", `/v1/core/virtual-machines/${vmId}/open-console`);
    expect(opened.status, JSON.stringify(opened.json)).toBe(200);
    const url = opened.json.console.url as string;
    expect(new URL(url).port).toBe(new URL(b.apiUrl).port);
    const consoleB = await connectConsole(url);
    consoleB.ws.send("uname\n");
    await waitFor("the console's answer through B", () => /uname\r\nLinux\r\n/.test(consoleB.text()), 20_000, 50);
    await expect(connectConsole(url)).rejects.toThrow(/refused: HTTP 401/);
    expect((await b.api("POST", `/v1/core/virtual-machines/${vmId}/close-console`)).status).toBe(200);
    expect(await consoleB.closed).toMatchObject({ code: 1000, reason: expect.stringMatching(/closed/) });

    // A dies. Its agents move to B.
    await a.kill("SIGKILL");
    const killedAt = Date.now();
    await waitFor("both hosts' streams on B", async () => (await holders()).every((h) => h.manager === idB), 20_000, 50);
    const failoverMs = Date.now() - killedAt;
    process.stdout.write(`two-managers: both agents reconnected to manager B ${failoverMs} ms after manager A was SIGKILLed\n`);
    expect(failoverMs).toBeLessThan(10_000);
    for (const ag of agents) {
      expect(ag.handle.exit()).toBeUndefined();
      expect(ag.handle.logs().some((l) => l.msg === "trying the next manager" && l.to === b.grpcAddress)).toBe(true);
    }

    // Power actions through B now go on B's own streams.
    const before = new Set((await db.select({ id: commands.id }).from(commands).where(eq(commands.vmId, vmId))).map((c) => c.id));
    expect((await b.api("POST", `/v1/core/virtual-machines/${vmId}/stop`)).status).toBe(200);
    await waitFor("the VM stopped", async () => (await view(b)).status === "SHUTOFF", 30_000);
    expect((await b.api("POST", `/v1/core/virtual-machines/${vmId}/start`)).status).toBe(200);
    await waitFor("the VM running again", async () => (await view(b)).status === "ACTIVE", 30_000);
    const after = (await db.select({ id: commands.id, kind: commands.kind, status: commands.status, request: commands.request })
      .from(commands).where(eq(commands.vmId, vmId))).filter((c) => !before.has(c.id));
    expect(after.map((c) => c.kind)).toEqual(expect.arrayContaining(["stopVm", "startVm"]));
    for (const c of after) expect(c).toMatchObject({ status: "succeeded", request: null });
    const left = await db.select({ id: managerInstances.id }).from(managerInstances).where(inArray(managerInstances.id, [idA, idB]));
    expect(left.map((r) => r.id).sort()).toEqual([idA, idB].sort()); // A's row stays until it goes stale
  }, 300_000);
});
