// The manager dies (kill -9) and comes back on the same ports; agents are real `orbit-agent`
// processes that are never restarted. Agents must outlive the manager, say so at a bounded rate,
// reconnect by themselves, and every create the API accepted must end Running: a manager restart
// by itself never turns accepted work into errors.
import { afterAll, describe, expect, it } from "vitest";
import { inArray } from "drizzle-orm";
import { openDatabase, scratchDatabaseUrl } from "../../manager/src/db/database.js";
import { commands, jobs } from "../../manager/src/db/schema.js";
import { AgentProcess, ManagerProcess, waitFor } from "./processes.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface HostRow { id: number; name: string; state: string; last_heartbeat_at: string | null; allocated: { vms: number } }

async function hosts(m: ManagerProcess): Promise<HostRow[]> {
  const { status, json } = await m.api("GET", "/v1/admin/hosts");
  if (status !== 200) throw new Error(`GET /v1/admin/hosts: ${status}`);
  return json.hosts as HostRow[];
}

describe("a manager killed and started again", () => {
  const cleanup: (() => Promise<void>)[] = [];
  afterAll(async () => { for (const c of cleanup.reverse()) await c().catch(() => undefined); });

  async function managerWith(settings: Record<string, unknown>, env?: Record<string, string>): Promise<{ manager: ManagerProcess; url: string | undefined }> {
    const db = await scratchDatabaseUrl("orbit_fault", { migrated: true });
    cleanup.push(db.drop);
    const manager = await ManagerProcess.start({ ...(db.url ? { databaseUrl: db.url } : {}), settings, ...(env ? { env } : {}) });
    cleanup.push(() => manager.stop());
    return { manager, url: db.url };
  }

  it("the agent outlives it, logs its reconnect attempts at a bounded rate, and reconnects by itself", async () => {
    // A 3 s host window: agents are told a 1.5 s reconnect cap.
    const { manager } = await managerWith({ "ping.interval": 0.5, "ping.timeout": 6 });
    const agent = new AgentProcess({
      managerAddress: manager.grpcAddress, joinToken: manager.joinToken, hostname: "restart-host-1",
      extra: { reconnect: { initial_backoff_ms: 200, max_backoff_ms: 15_000, log_every_ms: 2000 } },
    });
    cleanup.push(() => agent.stop());
    await waitFor("the host Up", async () => (await hosts(manager)).find((h) => h.name === "restart-host-1" && h.state === "Up"), 60_000);
    const pid = agent.handle.pid;

    await manager.kill("SIGKILL");
    const killedAt = Date.now();
    await sleep(8000);
    const awayMs = Date.now() - killedAt;
    expect(agent.handle.exit(), agent.handle.output()).toBeUndefined();
    const logs = agent.handle.logs();
    expect(logs.some((l) => l.msg === "lost the manager")).toBe(true);
    const first = logs.filter((l) => l.msg === "could not reach or register with the manager; retrying until it is back");
    const again = logs.filter((l) => l.msg === "still cannot reach the manager; retrying");
    expect(first).toHaveLength(1);
    // Still trying, said at most once per log_every_ms, with the count of attempts made.
    expect(again.length).toBeGreaterThanOrEqual(2);
    expect(again.length).toBeLessThanOrEqual(Math.floor(awayMs / 2000) + 1);
    const counts = again.map((l) => l.attempts as number);
    expect(counts).toEqual([...counts].sort((a, b) => a - b));
    expect(counts.at(-1)!).toBeGreaterThan(again.length);
    for (const l of again) expect(l.retryInMs).toBeLessThanOrEqual(1500); // the manager's cap, learnt before it died

    const restartedAt = Date.now();
    await manager.startProcess();
    await waitFor("the agent reconnected to the new manager", async () => (await hosts(manager)).find((h) =>
      h.name === "restart-host-1" && h.state === "Up" && h.last_heartbeat_at && Date.parse(h.last_heartbeat_at) > restartedAt), 30_000);
    expect(agent.handle.exit()).toBeUndefined();
    expect(agent.handle.pid).toBe(pid);
    expect(agent.handle.logs().some((l) => l.msg === "reached the manager again" && l.attempts >= counts.at(-1)!)).toBe(true);
  }, 300_000);

  it("killed during concurrent creates: every accepted VM ends Running, none Error, capacity matches, agents never restarted", async () => {
    // A 4 s host window (500 ms x 8): agents are told a 2 s reconnect cap. The killed process's
    // job leases run out before the new one resumes its jobs: 8 s here instead of the default 30 s.
    const { manager, url } = await managerWith({ "ping.interval": 0.5, "ping.timeout": 8 }, { ORBIT_LEASE_TTL_MS: "8000" });
    const agents = [1, 2, 3, 4].map((i) => new AgentProcess({
      managerAddress: manager.grpcAddress, joinToken: manager.joinToken, hostname: `crash-host-${i}`,
      cpus: 32, memoryMib: 65536, startDelayMs: 400,
    }));
    for (const a of agents) cleanup.push(() => a.stop());
    await waitFor("4 hosts Up", async () => (await hosts(manager)).filter((h) => h.state === "Up").length === 4, 90_000);
    const pids = agents.map((a) => a.handle.pid);

    // 32 creates at once; the manager is killed once a few have been answered.
    let answered = 0;
    // Settled at once (a create cut by the kill rejects: its answer was lost).
    const creates = Array.from({ length: 32 }, (_, i) => manager.api("POST", "/v1/core/virtual-machines", {
      name: `crash-${i}`, flavor_name: "n1-cpu-small", image_name: "Debian 12", count: 1,
    }).then((r) => { answered++; return { status: r.status, json: r.json }; }, (e: Error) => ({ status: 0, json: { lost: e.message } as Record<string, any> })));
    await waitFor("a few creates answered", () => answered >= 8, 30_000, 10);
    await manager.kill("SIGKILL");
    const outcomes = await Promise.all(creates);
    const accepted = outcomes.flatMap((o) => (o.status >= 200 && o.status < 300 ? [o.json.instances[0].id as number] : []));
    expect(outcomes.filter((o) => o.status >= 300).map((o) => o.json)).toEqual([]);
    expect(accepted.length).toBeGreaterThanOrEqual(8);

    // Down for longer than the agents' reconnect cap (2 s), then back on the same ports.
    await sleep(3000);
    await manager.startProcess();

    const list = async () => (await manager.api("GET", "/v1/core/virtual-machines?page_size=500")).json.instances as { id: number; status: string; orbit_state: string; state_reason: string }[];
    const vms = await waitFor("every VM Running", async () => {
      const all = await list();
      return all.every((v) => v.status === "ACTIVE") && all;
    }, 90_000, 250);
    const ids = vms.map((v) => v.id);
    for (const id of accepted) expect(ids).toContain(id);
    // Created but unanswered (connection cut) creates may exist; none is half-made: they run too.
    expect(vms.length).toBeLessThanOrEqual(32);

    // A few heartbeats later the hosts still report every domain running.
    await sleep(1500);
    const again = await list();
    expect(again.filter((v) => v.status !== "ACTIVE")).toEqual([]);
    const hs = await hosts(manager);
    expect(hs.reduce((n, h) => n + h.allocated.vms, 0)).toBe(again.length);
    expect(hs.every((h) => h.state === "Up")).toBe(true);
    agents.forEach((a, i) => {
      expect(a.handle.exit(), a.handle.output()).toBeUndefined();
      expect(a.handle.pid).toBe(pids[i]);
    });

    // Nothing left waiting in the database: no open job, no open command.
    await manager.handle!.stop("SIGTERM");
    const database = await openDatabase(url ? { url } : { dataDir: `${manager.dataDir}/pglite` });
    try {
      const open = await database.db.select().from(jobs).where(inArray(jobs.status, ["pending", "running"]));
      expect(open).toEqual([]);
      const failed = await database.db.select().from(jobs).where(inArray(jobs.status, ["failed"]));
      expect(failed).toEqual([]);
      const waiting = await database.db.select().from(commands).where(inArray(commands.status, ["pending", "sent"]));
      expect(waiting).toEqual([]);
    } finally {
      await database.close();
    }
  }, 400_000);
});
