// `orbit-manager`: the manager alone (production). Configuration from the environment.
import { OrbitError } from "#shared/errors.js";
import { loadManagerConfig } from "./config.js";
import { startManager } from "./manager.js";
import { createManagerLogger } from "./logging.js";

try {
  const config = loadManagerConfig();
  const log = createManagerLogger({ level: config.logLevel });
  const m = await startManager(config, log);
  log.info({ api: m.apiUrl, grpc: m.grpcAddress }, "orbit-manager started");
  if (m.createdAdminKey && !config.adminKey) {
    // Shown once: only its hash is stored.
    process.stdout.write(`\nAdmin API key (shown once): ${m.createdAdminKey}\n\n`);
  }
  const stop = async () => { await m.close(); process.exit(0); };
  process.on("SIGINT", () => void stop());
  process.on("SIGTERM", () => void stop());
} catch (e) {
  process.stderr.write(`orbit-manager: ${e instanceof OrbitError ? e.message : (e as Error).stack}\n`);
  process.exit(1);
}
