// The failover bench at a tiny size, so it cannot rot: a SIGKILLed simulated host is declared
// Down on its storage heartbeat's evidence and its HA VMs run on another host. It reads the
// manager's PostgreSQL database, so it runs only with TEST_DATABASE_URL (as CI does).
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { ROOT, programCommand } from "../../test/support/processes.js";

const url = process.env.TEST_DATABASE_URL;

describe.skipIf(!url)("failover at scale (bench/ha/failover-at-scale.ts)", () => {
  it("kills a loaded simulated host: Down, its HA VMs Running elsewhere", async () => {
    const { file, argv } = programCommand("bench/ha/failover-at-scale.ts", [
      "--hosts", "4", "--vms", "4", "--victims", "1", "--victim-vms", "2",
      "--latency-scale", "0", "--load-ping-interval", "1", "--settle-s", "2", "--timeout-s", "40", "--json", "--database-url", url!,
    ]);
    const { stdout } = await promisify(execFile)(file, argv, { cwd: ROOT, timeout: 100_000 });
    const { rows } = JSON.parse(stdout.split("\n").find((l) => l.includes('"event":"result"'))!);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ vms: 2, ha: 1, haRunning: 1, nonHaDown: 1 });
    expect(rows[0].downS).toBeGreaterThan(0);
    expect(rows[0].reason).toMatch(/storage heartbeat is \d+ ms old/);
  }, 120_000);
});
