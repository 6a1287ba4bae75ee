// The deploys bench at a tiny size, so it cannot rot: every VM made through the API ends
// Running, the create calls all succeed, and the figures are printed. It reads the manager's
// PostgreSQL database, so it runs only with TEST_DATABASE_URL (as CI does).
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { ROOT, programCommand } from "../../test/support/processes.js";

const url = process.env.TEST_DATABASE_URL;

describe.skipIf(!url)("deploys end to end (bench/api/deploys-end-to-end.ts)", () => {
  it("deploys 20 VMs on 5 simulated hosts and reports their rate", async () => {
    const { file, argv } = programCommand("bench/api/deploys-end-to-end.ts", [
      "--vms", "20", "--hosts", "5", "--clients", "4",
      "--latency-scale", "0", "--ping-interval", "600", "--pg-seconds", "0.5", "--pg-clients", "2", "--timeout-s", "60", "--json", "--database-url", url!,
    ]);
    const { stdout } = await promisify(execFile)(file, argv, { cwd: ROOT, timeout: 90_000 });
    const result = JSON.parse(stdout.split("\n").find((l) => l.includes('"event":"result"'))!);
    expect(result).toMatchObject({ event: "result", vms: 20, running: 20, errors: 0 });
    expect(result.rate).toBeGreaterThan(0);
    expect(result.pgRate).toBeGreaterThan(0);
    expect(stdout).toContain("| VMs Running |");
  }, 120_000);
});
