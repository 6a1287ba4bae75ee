// The README's first session, as a user runs it: `npm start` (the embedded default) as a child
// process on a fresh data folder, its URL read from what it prints and its admin key from the
// file it writes, then the real `orbit` binary (cli/bin/orbit.js) as child processes against it:
// create a GPU VM with --wait, see it ACTIVE, a refused command's exit code, delete with --wait.
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { scratchDatabaseUrl } from "../../manager/src/db/database.js";
import { OrbitProcess } from "./orbit-process.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const run = promisify(execFile);
/** The first start creates the PGlite database (slow on a busy 2-core machine). */
const START_TIMEOUT_MS = 90_000;
/** Each CLI run starts node and tsx (seconds on a busy machine). */
const SESSION_TIMEOUT_MS = 180_000;

let tmp: string;
let db: Awaited<ReturnType<typeof scratchDatabaseUrl>> | undefined;
let orbit: OrbitProcess | undefined;
let url: string;
let adminKey: string;

beforeAll(async () => {
  tmp = mkdtempSync(path.join(tmpdir(), "orbit-cli-embedded-"));
  const dataDir = path.join(tmp, "data");
  db = await scratchDatabaseUrl("orbit_cli_embedded");
  orbit = new OrbitProcess("embedded", {
    ORBIT_DATA_DIR: dataDir, ORBIT_API_PORT: "0", ORBIT_GRPC_PORT: "0", ...(db.url ? { DATABASE_URL: db.url } : {}),
  });
  await orbit.waitForOutput(/Press Ctrl-C to stop/, START_TIMEOUT_MS);
  // What `npm start` prints is "API  http://HOST:PORT/v1"; the CLI takes the URL without /v1.
  url = (await orbit.waitForOutput(/^ {2}API +(http:\/\/\S+)\/v1$/m, 1000))[1]!;
  adminKey = readFileSync(path.join(dataDir, "admin-key"), "utf8").trim();
}, START_TIMEOUT_MS + 10_000);

afterAll(async () => {
  // Runs when a test failed too: no Orbit is left listening.
  const exit = await orbit?.stop("SIGINT");
  await db?.drop();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
  if (exit && exit.code !== 0) throw new Error(`npm start exited with ${exit.code} (${exit.signal}): ${exit.stderr}`);
}, 60_000);

/** `orbit ARGS` as a user types it, configured by ORBIT_URL and ORBIT_API_KEY only. */
async function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("ORBIT_")));
  try {
    const r = await run(process.execPath, ["cli/bin/orbit.js", ...args], {
      cwd: ROOT, timeout: 120_000,
      // An empty config home: no developer's ~/.config/orbit can change the outcome.
      env: { ...env, ORBIT_URL: url, ORBIT_API_KEY: adminKey, XDG_CONFIG_HOME: path.join(tmp, "config") },
    });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (e) {
    const x = e as { code?: unknown; stdout?: string; stderr?: string };
    if (typeof x.code !== "number") throw e;
    return { code: x.code, stdout: x.stdout ?? "", stderr: x.stderr ?? "" };
  }
}

describe("the orbit CLI against npm start", () => {
  it("creates a GPU VM with --wait, shows it ACTIVE, exits non-zero when refused, deletes it with --wait", async () => {
    const created = await cli("vm", "create", "first-vm", "--flavor", "n3-H100x1", "--image", "Ubuntu Server 22.04 LTS", "--wait", "--json");
    expect(created.code, created.stderr).toBe(0);
    const vm = JSON.parse(created.stdout).instances[0];
    expect(vm).toMatchObject({ name: "first-vm", status: "ACTIVE", flavor: { name: "n3-H100x1", gpu_count: 1 } });

    const shown = await cli("vm", "show", String(vm.id), "--json");
    expect(shown.code, shown.stderr).toBe(0);
    expect(JSON.parse(shown.stdout).instance).toMatchObject({ id: vm.id, status: "ACTIVE", power_state: "RUNNING", host: "sim-h100-1" });

    // Refused by the API (4xx): exit code 1 and the server's message on stderr, nothing created.
    const refused = await cli("vm", "create", "second-vm", "--flavor", "no-such-flavor", "--image", "Ubuntu Server 22.04 LTS", "--json");
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/^orbit: .*no-such-flavor/m);
    expect(refused.stdout).toBe("");
    const listed = await cli("vm", "list", "--json");
    expect(JSON.parse(listed.stdout).instances.map((i: { name: string }) => i.name)).toEqual(["first-vm"]);

    const deleted = await cli("vm", "delete", String(vm.id), "--wait");
    expect(deleted, deleted.stderr).toMatchObject({ code: 0, stdout: `VM ${vm.id} deleted\n` });
    const gone = await cli("vm", "show", String(vm.id));
    expect(gone.code).toBe(1);
    expect(gone.stderr).toMatch(/not found/);
  }, SESSION_TIMEOUT_MS);
});
