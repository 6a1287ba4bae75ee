// The production binaries as child processes: an agent registers with a manager, and SIGTERM
// ends both cleanly. The fault suites build on this harness.
import { afterAll, describe, expect, it } from "vitest";
import { scratchDatabaseUrl } from "../../manager/src/db/database.js";
import { AgentProcess, ManagerProcess, waitFor } from "./processes.js";

describe("orbit-manager and orbit-agent as processes", () => {
  const cleanup: (() => Promise<void>)[] = [];
  afterAll(async () => { for (const c of cleanup.reverse()) await c(); });

  it("an agent registers, heartbeats and both stop on SIGTERM with exit code 0", async () => {
    const db = await scratchDatabaseUrl("orbit_fault");
    cleanup.push(db.drop);
    const manager = await ManagerProcess.start(db.url ? { databaseUrl: db.url } : {});
    cleanup.push(() => manager.stop());
    const agent = new AgentProcess({ managerAddress: manager.grpcAddress, joinToken: manager.joinToken, hostname: "proc-host-1" });
    cleanup.push(() => agent.stop());
    const host = await waitFor("the host Up", async () => {
      const { json } = await manager.api("GET", "/v1/admin/hosts");
      return (json.hosts as { name: string; state: string }[] | undefined)?.find((h) => h.name === "proc-host-1" && h.state === "Up");
    });
    expect(host.state).toBe("Up");
    expect(await agent.handle.stop("SIGTERM")).toEqual({ code: 0, signal: null });
    expect(await manager.handle!.stop("SIGTERM")).toEqual({ code: 0, signal: null });
  }, 90_000);
});
