// The README's first session, as a user runs it: `npm start` (the embedded default) as a child
// process on a fresh data folder, its URL read from what it prints and its admin key from the
// file it writes, then the real `orbit` binary (cli/bin/orbit.js) as child processes against it:
// create a GPU VM with --wait, see it ACTIVE, a refused command's exit code, delete with --wait.
// The README's CLI session runs here too, as written, so the walk-through cannot rot.
import { execFile } from "node:child_process";
import { generateKeyPairSync } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import sshpk from "sshpk";
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
let dataDir: string;
let db: Awaited<ReturnType<typeof scratchDatabaseUrl>> | undefined;
let orbit: OrbitProcess | undefined;
let url: string;
let adminKey: string;

beforeAll(async () => {
  tmp = mkdtempSync(path.join(tmpdir(), "orbit-cli-embedded-"));
  dataDir = path.join(tmp, "data");
  db = await scratchDatabaseUrl("orbit_cli_embedded", { migrated: true });
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

/** The shell lines of the README's "With the `orbit` CLI" block. */
function readmeCliSession(): string {
  const readme = readFileSync(path.join(ROOT, "README.md"), "utf8");
  const m = /^### With the `orbit` CLI$[\s\S]*?^```sh\n([\s\S]*?)^```$/m.exec(readme);
  if (!m) throw new Error("README.md has no ```sh block under \"### With the `orbit` CLI\"");
  return m[1]!;
}

describe("the orbit CLI against npm start", () => {
  // First: on a fresh start, as the README assumes (its VM is VM 1).
  it("runs the README's CLI session as written", async () => {
    // A user's folder: the checkout's .orbit-data (here the test's data folder) and an SSH key in ~/.ssh.
    const user = path.join(tmp, "user");
    const home = path.join(tmp, "home");
    mkdirSync(path.join(home, ".ssh"), { recursive: true });
    mkdirSync(user);
    symlinkSync(dataDir, path.join(user, ".orbit-data"));
    const { publicKey } = generateKeyPairSync("ed25519", { publicKeyEncoding: { type: "spki", format: "pem" }, privateKeyEncoding: { type: "pkcs8", format: "pem" } });
    writeFileSync(path.join(home, ".ssh", "id_ed25519.pub"), `${sshpk.parseKey(publicKey, "pem").toString("ssh")} me@laptop\n`);
    const script = `set -e\norbit() { "${process.execPath}" "${path.join(ROOT, "cli/bin/orbit.js")}" "$@"; }\n${readmeCliSession()}`;
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("ORBIT_")));
    let out: { stdout: string; stderr: string };
    try {
      out = await run("bash", ["-c", script], {
        cwd: user, timeout: 150_000,
        // The README's port is the default 8080; this start's port is the OS's choice.
        env: { ...env, HOME: home, XDG_CONFIG_HOME: path.join(home, ".config"), ORBIT_URL: url },
      });
    } catch (e) {
      const x = e as { code?: unknown; stdout?: string; stderr?: string };
      throw new Error(`the README's CLI session failed (exit ${String(x.code)}):\n${x.stdout ?? ""}\n${x.stderr ?? ""}`);
    }
    expect(out.stdout).toMatch(/│ default /);
    expect(out.stdout).toMatch(/│ laptop\s*│ default\s*│ [0-9a-f:]{47} /);
    expect(out.stdout).toMatch(/│ 1\s*│ demo\s*│ ACTIVE\s*│ n3-H100x1 /);
    expect(out.stdout).toMatch(/│ gpu\s*│ 1 x NVIDIA H100 80GB HBM3/);
    expect(out.stdout).toMatch(/VM 1 deleted\n$/);
  }, SESSION_TIMEOUT_MS);

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
