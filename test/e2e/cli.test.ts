// The `orbit` CLI as users run it: `node cli/bin/orbit.js ...` as a child process, configured by
// ORBIT_URL and ORBIT_API_KEY only, against a real manager and simulated hosts.
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ADMIN_KEY, createUserKey, startTestCloud, type TestCloud } from "./harness.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const run = promisify(execFile);
/** Each run starts node and tsx (seconds on a busy 2-core machine). */
const CLI_RUNS_TIMEOUT = 180_000;

let cloud: TestCloud;
let configHome: string;
let userKey: string;

beforeAll(async () => {
  cloud = await startTestCloud({
    hosts: [{ hostname: "cli-a", uuid: "c1100000-0000-4000-8000-00000000000a", cpus: 16, memoryMib: 32768 }],
  });
  userKey = await createUserKey(cloud, "cli-user");
  // An empty config home: no developer's ~/.config/orbit can change the outcome.
  configHome = mkdtempSync(path.join(tmpdir(), "orbit-cli-e2e-"));
  await cloud.waitFor("host up", async () => (await cloud.api("GET", "/v1/admin/hosts")).json.hosts?.[0]?.state === "Up");
}, 120_000);
afterAll(async () => {
  await cloud?.stop();
  if (configHome) rmSync(configHome, { recursive: true, force: true });
});

async function orbit(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return orbitAs(userKey, ...args);
}

async function orbitAs(key: string, ...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("ORBIT_")));
  try {
    const r = await run(process.execPath, ["cli/bin/orbit.js", ...args], {
      cwd: ROOT, env: { ...env, ORBIT_URL: cloud.manager.apiUrl, ORBIT_API_KEY: key, XDG_CONFIG_HOME: configHome }, timeout: 60_000,
    });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (e) {
    const x = e as { code?: number; stdout?: string; stderr?: string };
    if (typeof x.code !== "number") throw e;
    return { code: x.code, stdout: x.stdout ?? "", stderr: x.stderr ?? "" };
  }
}

describe("orbit CLI", () => {
  it("creates a VM with --wait, lists it, deletes it with --wait", async () => {
    const created = await orbit("vm", "create", "cli-vm", "--flavor", "n1-cpu-small", "--image", "Debian 12", "--wait", "--json");
    expect(created.stderr).toMatch(/creating cli-vm: done/);
    expect(created.code).toBe(0);
    const vm = JSON.parse(created.stdout).instances[0];
    expect(vm).toMatchObject({ name: "cli-vm", status: "ACTIVE" });

    const listed = await orbit("vm", "list", "--json");
    expect(listed.code).toBe(0);
    expect(JSON.parse(listed.stdout).instances.map((i: any) => [i.id, i.name, i.status])).toEqual([[vm.id, "cli-vm", "ACTIVE"]]);
    const table = await orbit("vm", "list");
    expect(table.stdout).toMatch(new RegExp(`${vm.id}\\s*│ cli-vm\\s*│ ACTIVE\\s*│ n1-cpu-small`));

    const deleted = await orbit("vm", "delete", String(vm.id), "--wait");
    expect(deleted).toMatchObject({ code: 0, stdout: `VM ${vm.id} deleted\n` });
    expect((await cloud.api("GET", `/v1/core/virtual-machines/${vm.id}`, undefined, userKey)).status).toBe(404);
    expect(JSON.parse((await orbit("vm", "list", "--json")).stdout).instances).toEqual([]);
  }, CLI_RUNS_TIMEOUT);

  it("stops, starts and reboots (Hyperstack's hard-reboot) a VM with --wait; a second stop is refused naming the state", async () => {
    const created = await orbit("vm", "create", "cli-power", "--flavor", "n1-cpu-small", "--image", "Debian 12", "--wait", "--json");
    expect(created.code).toBe(0);
    const id = String(JSON.parse(created.stdout).instances[0].id);
    const status = async () => (await cloud.api("GET", `/v1/core/virtual-machines/${id}`, undefined, userKey)).json.instance.status;
    expect(await orbit("vm", "stop", id, "--wait")).toMatchObject({ code: 0 });
    expect(await status()).toBe("SHUTOFF");
    const again = await orbit("vm", "stop", id);
    expect(again.code).not.toBe(0);
    expect(again.stderr).toMatch(/while Stopped/);
    expect(await orbit("vm", "start", id, "--wait")).toMatchObject({ code: 0 });
    expect(await status()).toBe("ACTIVE");
    expect(await orbit("vm", "reboot", id, "--wait")).toMatchObject({ code: 0 });
    expect(await status()).toBe("ACTIVE");
    const [reboot] = (await cloud.api("GET", `/v1/core/virtual-machines/${id}/events`, undefined, userKey)).json.instance_events
      .filter((e: any) => /reboot/.test(JSON.stringify(e)));
    expect(reboot).toBeDefined();
    expect((await orbit("vm", "delete", id, "--wait")).code).toBe(0);
  }, CLI_RUNS_TIMEOUT);

  it("an unknown flavor exits 1 with the server's message and field", async () => {
    const r = await orbit("vm", "create", "cli-bad", "--flavor", "no-such-flavor", "--image", "Debian 12");
    expect(r.code).toBe(1);
    expect(r.stdout).toBe("");
    expect(r.stderr).toBe("orbit: flavor \"no-such-flavor\" does not exist (field: flavor_name)\n");
  }, CLI_RUNS_TIMEOUT);

  it("a user key on an admin command exits 1 with the server's refusal", async () => {
    const r = await orbit("admin", "hosts");
    expect(r.code).toBe(1);
    expect(r.stderr).toBe("orbit: admin API requires an admin key\n");
  }, CLI_RUNS_TIMEOUT);

  it("admin hosts maintenance --wait reaches Maintenance, cancel-maintenance brings the host back; remove of a host in service is refused (exit 1)", async () => {
    await cloud.waitFor("no VM left", async () => (await cloud.api("GET", "/v1/admin/hosts")).json.hosts[0].allocated.vms === 0, 60_000);
    const id = String((await cloud.api("GET", "/v1/admin/hosts")).json.hosts[0].id);
    const m = await orbitAs(ADMIN_KEY, "admin", "hosts", "maintenance", id, "--wait");
    expect(m.code, m.stderr).toBe(0);
    expect(m.stdout).toMatch(/resource state\s*│ Maintenance/);
    expect((await orbitAs(ADMIN_KEY, "admin", "hosts", "maintenance-status", id, "--json")).stdout).toContain('"resource_state": "Maintenance"');
    const again = await orbitAs(ADMIN_KEY, "admin", "hosts", "maintenance", id);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain(`host ${id} is Maintenance`);
    expect((await orbitAs(ADMIN_KEY, "admin", "hosts", "cancel-maintenance", id)).stdout).toBe(`host ${id} Enabled\n`);
    const refused = await orbitAs(ADMIN_KEY, "admin", "hosts", "remove", id);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain("is Enabled and Up");
    expect((await orbit("admin", "hosts", "maintenance", id)).code).toBe(1);
  }, CLI_RUNS_TIMEOUT);
});
