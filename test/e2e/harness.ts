// Starts a real manager (HTTP + gRPC on loopback, ports chosen by the OS) and simulated agents
// in this process, on PostgreSQL when TEST_DATABASE_URL is set, else on in-memory PGlite.
import pino from "pino";
import { loadManagerConfig } from "../../manager/src/config.js";
import { scratchDatabaseUrl } from "../../manager/src/db/database.js";
import { startManager, type RunningManager } from "../../manager/src/manager.js";
import { startSimulatedFleet, type FleetOptions, type SimulatedFleet, type SimulatedHostSpec } from "../../manager/src/dev/simulated-fleet.js";

export const ADMIN_KEY = "orb_test_admin_key_0123456789";

export interface TestCloud {
  manager: RunningManager;
  fleet: SimulatedFleet;
  api(method: string, path: string, body?: unknown, key?: string | null): Promise<{ status: number; json: Record<string, any> }>;
  waitFor<T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs?: number): Promise<T>;
  stop(): Promise<void>;
}

export async function startTestCloud(opts: {
  hosts: SimulatedHostSpec[];
  env?: Record<string, string>;
  fleet?: Partial<FleetOptions>;
}): Promise<TestCloud> {
  const db = await scratchDatabaseUrl("orbit_e2e");
  const config = loadManagerConfig({
    ORBIT_API_PORT: "0", ORBIT_GRPC_PORT: "0", ORBIT_DATA_DIR: ":memory:", ORBIT_ADMIN_KEY: ADMIN_KEY,
    ...(db.url ? { DATABASE_URL: db.url } : {}), ...opts.env,
  }, { profile: "embedded" });
  const log = pino({ level: process.env.ORBIT_TEST_LOG ?? "silent" });
  const manager = await startManager(config, log);
  const fleet = await startSimulatedFleet({
    managerAddress: manager.grpcAddress, joinToken: manager.agentToken, log, hosts: opts.hosts,
    heartbeatIntervalMs: 300, startDelayMs: 50,
    ...(manager.grpcTls ? { tls: { caPem: Buffer.from(manager.caPem) } } : {}), ...opts.fleet,
  });
  const api: TestCloud["api"] = async (method, path, body, key = ADMIN_KEY) => {
    const headers: Record<string, string> = {};
    if (key) headers.api_key = key;
    let payload: string | undefined;
    if (body !== undefined) {
      headers["content-type"] = "application/json";
      payload = typeof body === "string" ? body : JSON.stringify(body);
    }
    const res = await fetch(`${manager.apiUrl}${path}`, { method, headers, ...(payload !== undefined ? { body: payload } : {}) });
    const text = await res.text();
    return { status: res.status, json: text ? JSON.parse(text) : {} };
  };
  const waitFor: TestCloud["waitFor"] = async (what, fn, timeoutMs = 15_000) => {
    const end = Date.now() + timeoutMs;
    let last: unknown;
    while (Date.now() < end) {
      last = await fn();
      if (last) return last as never;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`timed out waiting for ${what} (last: ${JSON.stringify(last)})`);
  };
  return {
    manager, fleet, api, waitFor,
    stop: async () => {
      await fleet.stop();
      await manager.close();
      await db.drop();
    },
  };
}
