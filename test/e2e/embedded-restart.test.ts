// `npm start` as a user runs it, as a child process on a data folder: create VMs, stop it with
// Ctrl-C (SIGINT), start it again on the same folder, and find the running VM still ACTIVE (the
// simulated hosts kept their domains) and the deleted one gone. Meanwhile a second start on the
// same folder or port is refused with one line and exit code 2, and the printed join token lets
// a real orbit-agent join. On PostgreSQL when TEST_DATABASE_URL is set, else on PGlite.
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { scratchDatabaseUrl } from "../../manager/src/db/database.js";
import { DATA_DIR_LOCK_FILE } from "../../manager/src/data-dir-lock.js";
import { SIMULATOR_STATE_FILE } from "../../agent/src/drivers/simulator/simulator-state-file.js";
import { expectOneLineFailure, OrbitProcess, runToExit } from "./orbit-process.js";

const START_TIMEOUT_MS = 90_000;

let tmp: string;
let dataDir: string;
let db: Awaited<ReturnType<typeof scratchDatabaseUrl>>;
let env: Record<string, string>;
let orbit: OrbitProcess | undefined;
let api: string;
let grpcAddress: string;
let joinToken: string;
let adminKey: string;
const vm: { keep?: { id: number; uuid: string; host: string }; gone?: { id: number; uuid: string; host: string } } = {};

async function startOrbit(): Promise<OrbitProcess> {
  const p = new OrbitProcess("embedded", env);
  orbit = p;
  await p.waitForOutput(/Press Ctrl-C to stop/, START_TIMEOUT_MS);
  api = (await p.waitForOutput(/^ {2}API +(http:\/\/\S+)\/v1$/m, 1000))[1]!;
  grpcAddress = (await p.waitForOutput(/over gRPC (\S+)\)/, 1000))[1]!;
  joinToken = (await p.waitForOutput(/^ {2}Join token +(join_\S+)/m, 1000))[1]!;
  adminKey = readFileSync(path.join(dataDir, "admin-key"), "utf8").trim();
  return p;
}

async function call(method: string, route: string, body?: unknown): Promise<{ status: number; json: any }> {
  const res = await fetch(`${api}${route}`, {
    method,
    headers: { api_key: adminKey, ...(body === undefined ? {} : { "content-type": "application/json" }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : {} };
}

async function waitFor<T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs = 30_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < end) {
    last = await fn();
    if (last) return last as T;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what} (last: ${JSON.stringify(last)})`);
}

async function createVm(name: string): Promise<{ id: number; uuid: string; host: string }> {
  const r = await call("POST", "/v1/core/virtual-machines", { name, flavor_name: "n1-cpu-small", image_name: "Debian 12", count: 1 });
  expect(r.status).toBe(200);
  const inst = r.json.instances[0];
  await waitFor(`${name} ACTIVE`, async () => (await call("GET", `/v1/core/virtual-machines/${inst.id}`)).json.instance?.status === "ACTIVE");
  return { id: inst.id, uuid: inst.uuid, host: inst.host };
}

function hostDomains(host: string): { uuid: string; state: string }[] {
  const file = path.join(dataDir, "agents", host, SIMULATOR_STATE_FILE);
  return (JSON.parse(readFileSync(file, "utf8")) as { domains: { uuid: string; state: string }[] }).domains;
}

beforeAll(async () => {
  tmp = mkdtempSync(path.join(tmpdir(), "orbit-embedded-"));
  dataDir = path.join(tmp, "data");
  db = await scratchDatabaseUrl("orbit_embedded", { migrated: true });
  env = { ORBIT_DATA_DIR: dataDir, ORBIT_API_PORT: "0", ORBIT_GRPC_PORT: "0", ...(db.url ? { DATABASE_URL: db.url } : {}) };
  await startOrbit();
}, START_TIMEOUT_MS + 10_000);

afterAll(async () => {
  await orbit?.stop("SIGKILL", 10_000).catch(() => undefined);
  await db?.drop();
  rmSync(tmp, { recursive: true, force: true });
}, 30_000);

describe("npm start, stopped and started again on the same data folder", () => {
  it("runs VMs; the simulated hosts keep them in the data folder, and every simulated GPU has its own UUID", async () => {
    // Heartbeats every 300 ms from now on (a setting, kept in the database): the test sees reconciliation sooner.
    expect((await call("PUT", "/v1/admin/settings/ping.interval", { value: 0.3 })).status).toBe(200);
    vm.keep = await createVm("keep");
    vm.gone = await createVm("gone");
    expect((await call("DELETE", `/v1/core/virtual-machines/${vm.gone.id}`)).status).toBe(200);
    await waitFor("gone deleted", async () => (await call("GET", `/v1/core/virtual-machines/${vm.gone!.id}`)).status === 404);
    expect(hostDomains(vm.keep.host)).toContainEqual(expect.objectContaining({ uuid: vm.keep.uuid, state: "POWER_STATE_RUNNING" }));
    expect(hostDomains(vm.gone.host).map((d) => d.uuid)).not.toContain(vm.gone.uuid);

    const hosts = (await call("GET", "/v1/admin/hosts")).json.hosts as { gpus: { uuid: string }[] }[];
    const gpuUuids = hosts.flatMap((h) => h.gpus.map((g) => g.uuid));
    expect(gpuUuids.length).toBeGreaterThan(8);
    expect(new Set(gpuUuids).size).toBe(gpuUuids.length);
  }, 120_000);

  it("prints a join token a real orbit-agent (simulator driver, its own state_dir) joins with", async () => {
    const stateDir = path.join(tmp, "real-agent");
    const config = path.join(tmp, "agent.yaml");
    writeFileSync(config, [
      `manager: "${grpcAddress}"`, "driver: simulator", `state_dir: ${stateDir}`, "log_level: warn",
      "host:", "  hostname: real-agent-1", "simulator:", "  cpus: 8", "  memory_mib: 16384", "  start_delay_ms: 0", "",
    ].join("\n"));
    expect(orbit!.stdout).toContain(`ORBIT_AGENT_TOKEN=${joinToken} orbit-agent --manager ${grpcAddress}`);
    const agent = new OrbitProcess("agent", { ORBIT_AGENT_TOKEN: joinToken }, ["--config", config]);
    try {
      await waitFor("real-agent-1 Up", async () => {
        const hosts = (await call("GET", "/v1/admin/hosts")).json.hosts as { name: string; state: string }[];
        return hosts.some((h) => h.name === "real-agent-1" && h.state === "Up");
      }, 60_000);
    } finally {
      const exit = await agent.stop("SIGTERM");
      expect(exit.stderr).toBe("");
      expect(exit.code).toBe(0);
    }
    // The standalone simulator keeps its host UUID (the one it registered with) and domains in state_dir.
    const identity = JSON.parse(readFileSync(path.join(stateDir, "identity.json"), "utf8")) as { hostUuid: string };
    expect(JSON.parse(readFileSync(path.join(stateDir, SIMULATOR_STATE_FILE), "utf8"))).toMatchObject({ hostUuid: identity.hostUuid, domains: [] });
  }, 120_000);

  it("refuses a second start while it runs: same data folder (names it and the pid), same port; exit 2, one line", async () => {
    const sameDir = await runToExit("embedded", { ...env });
    expect(expectOneLineFailure(sameDir, "orbit")).toBe(
      `orbit: data folder ${dataDir} is in use by another Orbit process (pid ${orbit!.pid}); stop it first, or remove ${path.join(dataDir, DATA_DIR_LOCK_FILE)} if pid ${orbit!.pid} is not Orbit`,
    );
    const manager = await runToExit("manager", { ORBIT_DATA_DIR: dataDir, ORBIT_API_PORT: "0", ORBIT_GRPC_PORT: "0" });
    expect(expectOneLineFailure(manager, "orbit-manager")).toContain(`data folder ${dataDir} is in use by another Orbit process (pid ${orbit!.pid})`);
    const apiPort = new URL(api).port;
    const samePort = await runToExit("embedded", { ...env, ORBIT_DATA_DIR: path.join(tmp, "other"), ORBIT_API_PORT: apiPort });
    expect(expectOneLineFailure(samePort, "orbit")).toContain(`cannot listen on 127.0.0.1:${apiPort} for the API: address already in use`);
    // The running one did not notice.
    expect((await call("GET", `/v1/core/virtual-machines/${vm.keep!.id}`)).json.instance.status).toBe("ACTIVE");
  }, 120_000);

  it("stops on Ctrl-C (exit 0, lock released) and, started again, still runs the VM and not the deleted one", async () => {
    const first = await orbit!.stop("SIGINT");
    expect(first.code).toBe(0);
    expect(existsSync(path.join(dataDir, DATA_DIR_LOCK_FILE))).toBe(false);

    await startOrbit();
    // Wait for two heartbeats of the VM's host after the restart: the first was reconciled
    // before the second was recorded (the gateway handles a host's messages in order).
    const hostOf = async () => ((await call("GET", "/v1/admin/hosts")).json.hosts as any[]).find((h) => h.name === vm.keep!.host);
    const restartedAt = Date.now();
    const firstBeat = await waitFor("a heartbeat after the restart", async () => {
      const h = await hostOf();
      return h?.state === "Up" && h.last_heartbeat_at && Date.parse(h.last_heartbeat_at) > restartedAt && (h.last_heartbeat_at as string);
    });
    await waitFor("a second heartbeat", async () => (await hostOf())?.last_heartbeat_at > firstBeat);

    const kept = (await call("GET", `/v1/core/virtual-machines/${vm.keep!.id}`)).json.instance;
    expect(kept).toMatchObject({ status: "ACTIVE", power_state: "RUNNING", host: vm.keep!.host });
    expect((await call("GET", `/v1/core/virtual-machines/${vm.gone!.id}`)).status).toBe(404);
    expect(hostDomains(vm.gone!.host).map((d) => d.uuid)).not.toContain(vm.gone!.uuid);

    const second = await orbit!.stop("SIGINT");
    expect(second.code).toBe(0);
    expect(second.stderr).toBe("");
  }, 180_000);
});
