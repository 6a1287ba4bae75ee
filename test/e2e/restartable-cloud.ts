// A manager on its own ports and data folder that a test stops and starts again (same database,
// same ports) while its simulated hosts keep running and reconnect: for suites about what a
// manager restart in the middle of some work leaves behind. On PostgreSQL when TEST_DATABASE_URL
// is set, else on PGlite in the data folder.
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import pino from "pino";
import { startSimulatedFleet, type SimulatedFleet, type SimulatedHostSpec } from "../../dev/simulated-fleet.js";
import { loadManagerConfig } from "../../manager/src/config.js";
import { scratchDatabaseUrl } from "../../manager/src/db/database.js";
import { startManager, type RunningManager } from "../../manager/src/manager.js";
import { ADMIN_KEY } from "./harness.js";

export interface RestartableCloud {
  /** The running manager (throws while it is stopped). */
  readonly manager: RunningManager;
  readonly fleet: SimulatedFleet;
  /** Host `name`'s simulator. */
  hv(name: string): SimulatedFleet["hypervisors"][number];
  /** An admin API call. */
  api(method: string, route: string, body?: unknown): Promise<{ status: number; json: any }>;
  /** Polls `fn` every 100 ms until it gives something truthy (a throw counts as not yet). */
  waitFor<T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs?: number): Promise<T>;
  /** Stops the manager, waits for `meanwhile`, starts it again on the same database and ports. */
  restart(meanwhile?: () => Promise<unknown>): Promise<void>;
  stop(): Promise<void>;
}

/** A port the OS says is free now, for a manager that must come back on the same one. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const a = s.address();
      s.close(() => resolve(typeof a === "object" && a ? a.port : 0));
    });
  });
}

export async function startRestartableCloud(o: { hosts: SimulatedHostSpec[]; name: string }): Promise<RestartableCloud> {
  const log = pino({ level: process.env.ORBIT_TEST_LOG ?? "silent" });
  const tmp = mkdtempSync(path.join(tmpdir(), `orbit-${o.name}-`));
  const db = await scratchDatabaseUrl(`orbit_${o.name.replace(/-/g, "_")}`, { migrated: true });
  const config = loadManagerConfig({
    ORBIT_API_PORT: String(await freePort()), ORBIT_GRPC_PORT: String(await freePort()), ORBIT_DATA_DIR: path.join(tmp, "data"),
    ORBIT_ADMIN_KEY: ADMIN_KEY, ...(db.url ? { DATABASE_URL: db.url } : {}),
  }, { profile: "embedded" });
  let manager: RunningManager | undefined = await startManager(config, log, { initialSettings: { "ping.interval": 0.3 } });
  const fleet = await startSimulatedFleet({ managerAddress: manager.grpcAddress, joinToken: manager.agentToken, log, hosts: o.hosts, heartbeatIntervalMs: 300, startDelayMs: 50 });
  const running = (): RunningManager => {
    if (!manager) throw new Error("the manager is stopped");
    return manager;
  };
  const cloud: RestartableCloud = {
    get manager() { return running(); },
    fleet,
    hv: (name) => fleet.hypervisors[o.hosts.findIndex((h) => h.hostname === name)]!,
    async api(method, route, body) {
      const res = await fetch(`${running().apiUrl}${route}`, {
        method, headers: { api_key: ADMIN_KEY, ...(body === undefined ? {} : { "content-type": "application/json" }) },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      const text = await res.text();
      return { status: res.status, json: text ? JSON.parse(text) : {} };
    },
    async waitFor(what, fn, timeoutMs = 30_000) {
      const end = Date.now() + timeoutMs;
      let last: unknown;
      while (Date.now() < end) {
        last = await fn().catch((e: unknown) => `error: ${(e as Error).message}`);
        if (last && !(typeof last === "string" && last.startsWith("error: "))) return last as never;
        await new Promise((r) => setTimeout(r, 100));
      }
      throw new Error(`timed out waiting for ${what} (last: ${JSON.stringify(last)})`);
    },
    async restart(meanwhile) {
      await running().close();
      manager = undefined;
      await meanwhile?.();
      manager = await startManager(config, log);
    },
    async stop() {
      await fleet.stop();
      await manager?.close();
      await db.drop();
      rmSync(tmp, { recursive: true, force: true });
    },
  };
  await cloud.waitFor("hosts Up", async () => (await cloud.api("GET", "/v1/admin/hosts")).json.hosts?.filter((h: any) => h.state === "Up").length === o.hosts.length);
  return cloud;
}
