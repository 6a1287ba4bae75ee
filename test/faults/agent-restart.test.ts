// A host's agent is killed (kill -9) and started again on the same state dir. Its running VMs
// must go Unknown once the host's liveness deadline passes (capacity held, API status UNKNOWN),
// and leave Unknown from what the restarted agent reports: Running if the host still runs the
// domains, Stopped with "host rebooted" if it booted anew without them. The simulator driver
// decides which: a simulated host lives as long as its agent process (new boot id per start),
// and keeps its domains only if the simulator persists them in its state dir.
import { afterAll, describe, expect, it } from "vitest";
import { scratchDatabaseUrl } from "../../manager/src/db/database.js";
import { AgentProcess, ManagerProcess, waitFor } from "./processes.js";

interface VmView { id: number; status: string; orbit_state: string; state_reason: string }

describe("a host whose agent process is killed and started again", () => {
  const cleanup: (() => Promise<void>)[] = [];
  afterAll(async () => { for (const c of cleanup.reverse()) await c().catch(() => undefined); });

  it("its VMs go Unknown after the deadline, then follow what the restarted agent reports", async () => {
    const db = await scratchDatabaseUrl("orbit_fault", { migrated: true });
    cleanup.push(db.drop);
    // A 3 s host window (500 ms x 6).
    const manager = await ManagerProcess.start({
      ...(db.url ? { databaseUrl: db.url } : {}),
      settings: { "ping.interval": 0.5, "ping.timeout": 6 },
    });
    cleanup.push(() => manager.stop());
    const agent = new AgentProcess({ managerAddress: manager.grpcAddress, joinToken: manager.joinToken, hostname: "agent-restart-1" });
    cleanup.push(() => agent.stop());
    await waitFor("the host Up", async () => {
      const { json } = await manager.api("GET", "/v1/admin/hosts");
      return (json.hosts as { state: string }[] | undefined)?.some((h) => h.state === "Up");
    }, 60_000);

    const ids: number[] = [];
    for (const name of ["kept-1", "kept-2"]) {
      const r = await manager.api("POST", "/v1/core/virtual-machines", { name, flavor_name: "n1-cpu-small", image_name: "Debian 12", count: 1 });
      expect(r.status, JSON.stringify(r.json)).toBe(200);
      ids.push(r.json.instances[0].id as number);
    }
    const views = async () => Promise.all(ids.map(async (id) => (await manager.api("GET", `/v1/core/virtual-machines/${id}`)).json.instance as VmView));
    await waitFor("both VMs Running", async () => (await views()).every((v) => v.status === "ACTIVE"), 60_000);

    agent.handle.kill("SIGKILL");
    await agent.handle.exited;
    const unknown = await waitFor("both VMs Unknown", async () => {
      const vs = await views();
      return vs.every((v) => v.orbit_state === "Unknown") && vs;
    }, 60_000);
    for (const v of unknown) expect(v).toMatchObject({ status: "UNKNOWN", state_reason: expect.stringContaining("stopped reporting") });
    const { json } = await manager.api("GET", "/v1/admin/hosts");
    // Suspect, then Alert (a single host: no neighbour can probe it, so HA restarts nothing).
    expect(json.hosts[0]).toMatchObject({ state: expect.stringMatching(/^(Suspect|Alert)$/), allocated: { vms: 2 } });

    agent.restart();
    const settled = await waitFor("both VMs settled from the agent's report", async () => {
      const vs = await views();
      return vs.every((v) => v.orbit_state === "Running" || v.orbit_state === "Stopped") && vs;
    }, 60_000);
    const states = new Set(settled.map((v) => v.orbit_state));
    expect(states.size).toBe(1);
    if (states.has("Running")) {
      // The simulator kept its domains across the agent's restart.
      for (const v of settled) expect(v).toMatchObject({ status: "ACTIVE", state_reason: "host is back and reports the domain running" });
    } else {
      // The simulated host forgot its domains: a reboot, said as such.
      for (const v of settled) expect(v).toMatchObject({ status: "SHUTOFF", state_reason: "host rebooted: the domain is gone after the reboot" });
    }
    const after = await manager.api("GET", "/v1/admin/hosts");
    expect(after.json.hosts[0]).toMatchObject({ state: "Up", allocated: { vms: 2 } });
    process.stdout.write(`agent-restart: VMs came back ${[...states][0]} (${settled[0]!.state_reason})\n`);
  }, 300_000);
});
