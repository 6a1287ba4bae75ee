// A start that cannot succeed says why in one line on stderr and exits with code 2: bad
// configuration, an address in use, a data folder another process holds. Real processes.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DATA_DIR_LOCK_FILE } from "../../manager/src/data-dir-lock.js";
import { expectOneLineFailure, runToExit } from "./orbit-process.js";

let tmp: string;
let busy: net.Server;
let busyPort: number;
let holder: ChildProcess;

beforeAll(async () => {
  tmp = mkdtempSync(path.join(tmpdir(), "orbit-startup-"));
  // A port some other program listens on (the OS chose it).
  busy = net.createServer();
  await new Promise<void>((r) => busy.listen(0, "127.0.0.1", r));
  busyPort = (busy.address() as net.AddressInfo).port;
  // A live process whose pid sits in a data folder's lock.
  holder = spawn(process.execPath, ["-e", "setInterval(() => {}, 60_000)"], { stdio: "ignore" });
});
afterAll(async () => {
  holder?.kill("SIGKILL");
  await new Promise((r) => busy?.close(r));
  rmSync(tmp, { recursive: true, force: true });
});

function dataDir(name: string): string {
  return path.join(tmp, name);
}

describe("npm start (embedded)", () => {
  it("a bad setting: the variable's name, exit 2", async () => {
    const line = expectOneLineFailure(await runToExit("embedded", { ORBIT_API_PORT: "abc", ORBIT_DATA_DIR: dataDir("bad-port") }), "orbit");
    expect(line).toMatch(/^orbit: ORBIT_API_PORT: /);
  });

  it("the API port in use: names the address and the variable, and leaves the data folder untouched", async () => {
    const dir = dataDir("api-busy");
    const exit = await runToExit("embedded", { ORBIT_API_PORT: String(busyPort), ORBIT_GRPC_PORT: "0", ORBIT_DATA_DIR: dir });
    const line = expectOneLineFailure(exit, "orbit");
    expect(line).toBe(`orbit: cannot listen on 127.0.0.1:${busyPort} for the API: address already in use (another Orbit, or another program, listens there); stop what listens there or choose another port with ORBIT_API_PORT`);
    // Checked before the database is opened (no admin key made that nobody could see), lock released.
    expect(readdirSync(dir)).toEqual([]);
  });

  it("the gRPC port in use: names the agent gateway's variable", async () => {
    const exit = await runToExit("embedded", { ORBIT_API_PORT: "0", ORBIT_GRPC_PORT: String(busyPort), ORBIT_DATA_DIR: dataDir("grpc-busy") });
    expect(expectOneLineFailure(exit, "orbit")).toContain(`cannot listen on 127.0.0.1:${busyPort} for the agent gateway: address already in use`);
  });

  it("a data folder held by a live process: names the folder and the pid, and leaves the lock alone", async () => {
    const dir = dataDir("held");
    const lock = path.join(dir, DATA_DIR_LOCK_FILE);
    mkdirSync(dir, { recursive: true });
    writeFileSync(lock, `${holder.pid}\n`);
    const exit = await runToExit("embedded", { ORBIT_API_PORT: "0", ORBIT_GRPC_PORT: "0", ORBIT_DATA_DIR: dir });
    expect(expectOneLineFailure(exit, "orbit")).toContain(`orbit: data folder ${dir} is in use by another Orbit process (pid ${holder.pid})`);
    expect(readdirSync(dir)).toEqual([DATA_DIR_LOCK_FILE]);
  });
});

describe("orbit-manager", () => {
  it("a bad setting: exit 2", async () => {
    const line = expectOneLineFailure(await runToExit("manager", { ORBIT_GRPC_PORT: "99999", ORBIT_DATA_DIR: ":memory:" }), "orbit-manager");
    expect(line).toMatch(/^orbit-manager: ORBIT_GRPC_PORT: /);
  });

  it("a port in use: exit 2", async () => {
    const exit = await runToExit("manager", { ORBIT_API_PORT: "0", ORBIT_GRPC_PORT: String(busyPort), ORBIT_DATA_DIR: ":memory:" });
    expect(expectOneLineFailure(exit, "orbit-manager")).toContain(`cannot listen on 127.0.0.1:${busyPort} for the agent gateway: address already in use`);
  });

  it("its metrics address (ORBIT_METRICS_ADDR) in use: names it, exit 2", async () => {
    const exit = await runToExit("manager", { ORBIT_API_PORT: "0", ORBIT_GRPC_PORT: "0", ORBIT_METRICS_ADDR: `127.0.0.1:${busyPort}`, ORBIT_DATA_DIR: ":memory:" });
    expect(expectOneLineFailure(exit, "orbit-manager")).toContain(`cannot listen on 127.0.0.1:${busyPort} for the metrics: address already in use`);
  });

  it("on PGlite, a data folder held by a live process: exit 2", async () => {
    const dir = dataDir("held");
    const exit = await runToExit("manager", { ORBIT_API_PORT: "0", ORBIT_GRPC_PORT: "0", ORBIT_DATA_DIR: dir });
    expect(expectOneLineFailure(exit, "orbit-manager")).toContain(`data folder ${dir} is in use by another Orbit process (pid ${holder.pid})`);
  });
});

describe("orbit-agent", () => {
  it("a config file that does not exist: exit 2", async () => {
    const missing = path.join(tmp, "nowhere", "agent.yaml");
    const exit = await runToExit("agent", {}, ["--config", missing]);
    expect(expectOneLineFailure(exit, "orbit-agent")).toMatch(new RegExp(`^orbit-agent: ${missing}: cannot read`));
  });

  it("a bad value: names the key, exit 2", async () => {
    const file = path.join(tmp, "agent.yaml");
    writeFileSync(file, `manager: "127.0.0.1:1"\ndriver: simulator\nstate_dir: ${tmp}/agent-state\nsimulator:\n  cpus: 0\n`);
    const exit = await runToExit("agent", {}, ["--config", file]);
    expect(expectOneLineFailure(exit, "orbit-agent")).toMatch(/simulator\.cpus/);
  });

  it("its metrics address (metrics.listen) in use: names the key, exit 2", async () => {
    const file = path.join(tmp, "agent-metrics.yaml");
    writeFileSync(file, `manager: "127.0.0.1:1"\ndriver: simulator\nstate_dir: ${tmp}/agent-metrics-state\nmetrics:\n  listen: "127.0.0.1:${busyPort}"\n`);
    const exit = await runToExit("agent", {}, ["--config", file]);
    expect(expectOneLineFailure(exit, "orbit-agent")).toBe(`orbit-agent: cannot listen on 127.0.0.1:${busyPort} for metrics: EADDRINUSE; change metrics.listen`);
  });
});
