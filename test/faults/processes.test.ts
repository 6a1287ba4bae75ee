// The production programs as child processes: an agent registers with a manager, and SIGTERM
// ends both cleanly. The fault suites build on this harness, which starts them compiled; the
// bin/ scripts users run (the sources through tsx) are started here too.
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";
import { ROOT } from "../support/processes.js";
import { scratchDatabaseUrl } from "../../manager/src/db/database.js";
import { AgentProcess, ManagerProcess, waitFor } from "./processes.js";

describe("orbit-manager and orbit-agent as processes", () => {
  const cleanup: (() => Promise<void>)[] = [];
  afterAll(async () => { for (const c of cleanup.reverse()) await c(); });

  it("an agent registers, heartbeats and both stop on SIGTERM with exit code 0", async () => {
    const db = await scratchDatabaseUrl("orbit_fault", { migrated: true });
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

  it("bin/orbit-manager.js and bin/orbit-agent.js run the sources: a bad configuration is their one-line error, exit 2", async () => {
    const run = async (bin: string, args: string[], env: Record<string, string>) =>
      promisify(execFile)(process.execPath, [bin, ...args], { cwd: ROOT, env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env }, timeout: 60_000 })
        .then(() => ({ code: 0, stderr: "" }), (e: { code: number; stderr: string }) => ({ code: e.code, stderr: e.stderr }));
    expect(await run("manager/bin/orbit-manager.js", [], { ORBIT_API_PORT: "notaport" })).toEqual({
      code: 2, stderr: expect.stringMatching(/^orbit-manager: ORBIT_API_PORT: [^\n]*\n$/),
    });
    expect(await run("agent/bin/orbit-agent.js", ["--config", "/nonexistent/agent.yaml"], {})).toEqual({
      code: 2, stderr: expect.stringMatching(/^orbit-agent: \/nonexistent\/agent\.yaml: cannot read: ENOENT[^\n]*\n$/),
    });
  }, 90_000);
});
