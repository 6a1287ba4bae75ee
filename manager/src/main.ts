// `orbit-manager`: the manager alone (production). Configuration from the environment.
import { exitOnStartupFailure } from "#shared/exit-on-startup-failure.js";
import { loadManagerConfig } from "./config.js";
import { createManagerLogger } from "./logging.js";
import { lockDataDir } from "./data-dir-lock.js";
import { assertListenAddressesFree, explainListenFailure, routeGrpcLogs } from "./listen-addresses.js";
import { startManager } from "./manager.js";

try {
  const config = loadManagerConfig();
  const log = createManagerLogger({ level: config.logLevel });
  routeGrpcLogs(log);
  // PGlite in a folder serves one process; PostgreSQL serves many managers.
  if (!config.databaseUrl && config.dataDir !== ":memory:") lockDataDir(config.dataDir);
  await assertListenAddressesFree(config);
  const m = await startManager(config, log).catch((e: unknown) => { throw explainListenFailure(e, config); });
  log.info({ api: m.apiUrl, grpc: m.grpcAddress }, "orbit-manager started");
  if (m.createdAdminKey && !config.adminKey) {
    // Shown once: only its hash is stored.
    process.stdout.write(`\nAdmin API key (shown once): ${m.createdAdminKey}\n\n`);
  }
  const stop = async () => { await m.close(); process.exit(0); };
  process.on("SIGINT", () => void stop());
  process.on("SIGTERM", () => void stop());
} catch (e) {
  exitOnStartupFailure("orbit-manager", e);
}
