// Real processes for fault tests: `orbit-manager` and `orbit-agent` (simulator driver) as child
// processes (compiled once per run, test/support/orbit-programs.ts), configured the way production
// runs them, so that exits, signals and lost in-memory state are what a test sees. Every wait
// here is bounded.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { stringify as toYaml } from "yaml";
import { type ChildHandle, type Exit, freePort, spawnProgram, waitFor } from "../support/processes.js";

export { ChildHandle, freePort, waitFor, type Exit } from "../support/processes.js";

/** Only what the programs need of the parent's environment: a developer's ORBIT_* cannot change a test. */
const baseEnv = (): NodeJS.ProcessEnv => ({ PATH: process.env.PATH, HOME: process.env.HOME });

export const FAULT_ADMIN_KEY = "orb_fault_admin_key_0123456789";
export const FAULT_JOIN_TOKEN = "join_fault_token_0123456789";

export interface ManagerProcessOptions {
  /** PostgreSQL URL; without it the manager runs on PGlite in `dataDir`. */
  databaseUrl?: string;
  /** PGlite folder (kept across restarts); a temp folder when absent. */
  dataDir?: string;
  apiPort?: number;
  grpcPort?: number;
  /** Extra environment (settings the test needs, log level...). */
  env?: Record<string, string>;
  /**
   * Global settings (PUT /v1/admin/settings) in force from the start: `start()` stores them, then
   * restarts the manager so they apply without the grace a run-time change gets.
   */
  settings?: Record<string, unknown>;
}

/**
 * `orbit-manager` as a child process on fixed ports (chosen once), so agents reconnect to the
 * same address after `restart()`. Plain gRPC and the static join token are set explicitly: the
 * production defaults are TLS and one-time tokens.
 */
export class ManagerProcess {
  handle: ChildHandle | undefined;
  readonly dataDir: string;
  private readonly ownsDataDir: boolean;

  private constructor(private readonly o: ManagerProcessOptions & { apiPort: number; grpcPort: number }) {
    this.ownsDataDir = !o.dataDir;
    this.dataDir = o.dataDir ?? mkdtempSync(path.join(tmpdir(), "orbit-fault-manager-"));
  }

  static async start(o: ManagerProcessOptions = {}): Promise<ManagerProcess> {
    const m = new ManagerProcess({ ...o, apiPort: o.apiPort ?? await freePort(), grpcPort: o.grpcPort ?? await freePort() });
    await m.startProcess();
    if (o.settings && Object.keys(o.settings).length) {
      for (const [name, value] of Object.entries(o.settings)) {
        const r = await m.api("PUT", `/v1/admin/settings/${name}`, { value });
        if (r.status !== 200) throw new Error(`setting ${name}: ${r.status} ${JSON.stringify(r.json)}`);
      }
      await m.handle!.stop("SIGTERM");
      await m.startProcess();
    }
    return m;
  }

  get apiUrl(): string {
    return `http://127.0.0.1:${this.o.apiPort}`;
  }

  get grpcAddress(): string {
    return `127.0.0.1:${this.o.grpcPort}`;
  }

  get adminKey(): string {
    return FAULT_ADMIN_KEY;
  }

  get joinToken(): string {
    return FAULT_JOIN_TOKEN;
  }

  /** Starts (again) and waits until the API answers /healthz; fails early if the process exits. */
  async startProcess(timeoutMs = 60_000): Promise<void> {
    if (this.handle && !this.handle.exit()) throw new Error("manager process already running");
    const env: Record<string, string> = {
      ORBIT_API_HOST: "127.0.0.1", ORBIT_API_PORT: String(this.o.apiPort),
      ORBIT_GRPC_HOST: "127.0.0.1", ORBIT_GRPC_PORT: String(this.o.grpcPort),
      ORBIT_ADMIN_KEY: FAULT_ADMIN_KEY, ORBIT_AGENT_TOKEN: FAULT_JOIN_TOKEN,
      ORBIT_GRPC_TLS: "false", ORBIT_ALLOW_STATIC_JOIN_TOKEN: "true",
      ORBIT_DATA_DIR: this.dataDir, ORBIT_LOG_LEVEL: process.env.ORBIT_TEST_LOG ?? "warn",
      ...(this.o.databaseUrl ? { DATABASE_URL: this.o.databaseUrl } : {}),
      ...this.o.env,
    };
    const h = spawnProgram("manager/src/main.ts", [], { name: "orbit-manager", env: { ...baseEnv(), ...env } });
    this.handle = h;
    await waitFor(`orbit-manager on ${this.apiUrl}`, async () => {
      const gone = h.exit();
      if (gone) throw Object.assign(new Error(`orbit-manager exited (${JSON.stringify(gone)}):\n${h.output()}`), { fatal: true });
      const res = await fetch(`${this.apiUrl}/healthz`).catch(() => undefined);
      return res?.ok;
    }, timeoutMs).catch((e: Error) => {
      h.kill("SIGKILL");
      throw new Error(`${e.message}\n--- orbit-manager output ---\n${h.output()}`);
    });
  }

  /** kill -9 (default) and wait for the exit. */
  async kill(signal: NodeJS.Signals = "SIGKILL"): Promise<Exit | undefined> {
    if (!this.handle) return undefined;
    this.handle.kill(signal);
    return this.handle.exited;
  }

  async api(method: string, urlPath: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; json: Record<string, any>; headers: Headers }> {
    const h: Record<string, string> = { api_key: FAULT_ADMIN_KEY, ...headers };
    let payload: string | undefined;
    if (body !== undefined) {
      h["content-type"] = "application/json";
      payload = JSON.stringify(body);
    }
    const res = await fetch(`${this.apiUrl}${urlPath}`, { method, headers: h, ...(payload !== undefined ? { body: payload } : {}) });
    const text = await res.text();
    let json: Record<string, any> = {};
    try {
      json = text ? JSON.parse(text) : {};
    } catch {
      json = { raw: text };
    }
    return { status: res.status, json, headers: res.headers };
  }

  async stop(): Promise<void> {
    await this.handle?.stop("SIGTERM");
    if (this.ownsDataDir) rmSync(this.dataDir, { recursive: true, force: true });
  }
}

export interface AgentProcessOptions {
  managerAddress: string;
  joinToken: string;
  hostname: string;
  /** Identity (host id, secret) and simulator state are kept here; a temp folder when absent. */
  stateDir?: string;
  cpus?: number;
  memoryMib?: number;
  gpus?: { model: string; memoryMib: number; count: number; numaNode?: number }[];
  startDelayMs?: number;
  /** Extra top-level keys of agent.yaml. */
  extra?: Record<string, unknown>;
  env?: Record<string, string>;
  /** A network namespace to run in (agent-netns.ts), so that its traffic can be cut. */
  netns?: string;
}

/** One domain of a simulated host's state file: `state` is a PowerState name (POWER_STATE_RUNNING...). */
export interface SimulatedDomainView { uuid: string; state: string; reason: string }

/** `orbit-agent --config FILE` with the simulator driver, as a child process. */
export class AgentProcess {
  handle: ChildHandle;
  readonly stateDir: string;
  readonly configFile: string;
  private readonly ownsStateDir: boolean;

  constructor(private readonly o: AgentProcessOptions) {
    this.ownsStateDir = !o.stateDir;
    this.stateDir = o.stateDir ?? mkdtempSync(path.join(tmpdir(), `orbit-fault-agent-${o.hostname}-`));
    mkdirSync(this.stateDir, { recursive: true });
    this.configFile = path.join(this.stateDir, "agent.yaml");
    writeFileSync(this.configFile, toYaml({
      manager: o.managerAddress,
      token: o.joinToken,
      state_dir: this.stateDir,
      driver: "simulator",
      simulator: {
        cpus: o.cpus ?? 32,
        memory_mib: o.memoryMib ?? 131072,
        numa_cells: 1,
        start_delay_ms: o.startDelayMs ?? 50,
        gpus: (o.gpus ?? []).map((g) => ({ model: g.model, memory_mib: g.memoryMib, count: g.count, ...(g.numaNode !== undefined ? { numa_node: g.numaNode } : {}) })),
      },
      gpu: { enabled: false },
      host: { hostname: o.hostname },
      log_level: process.env.ORBIT_TEST_LOG ?? "info",
      ...o.extra,
    }));
    this.handle = this.spawn();
  }

  private spawn(): ChildHandle {
    return spawnProgram("agent/src/main.ts", ["--config", this.configFile], {
      name: `orbit-agent ${this.o.hostname}`, env: { ...baseEnv(), ...this.o.env }, ...(this.o.netns ? { netns: this.o.netns } : {}),
    });
  }

  /**
   * The simulated host's domains as its state file holds them (the simulator rewrites it on every
   * change): readable whether or not the manager or the agent's network is there. The uuid is the VM's.
   */
  domains(): SimulatedDomainView[] {
    const f = path.join(this.stateDir, "simulator-domains.json");
    if (!existsSync(f)) return [];
    // Replaced atomically (rename): never read half-written.
    return (JSON.parse(readFileSync(f, "utf8")) as { domains: SimulatedDomainView[] }).domains;
  }

  /** Starts the agent again on the same state dir (a host whose agent was restarted). */
  restart(): void {
    if (!this.handle.exit()) throw new Error("agent process still running");
    this.handle = this.spawn();
  }

  async stop(): Promise<void> {
    await this.handle.stop("SIGTERM");
    if (this.ownsStateDir) rmSync(this.stateDir, { recursive: true, force: true });
  }
}
