// `orbit-manager`: the manager alone (production). Configuration from the environment.
import pino from "pino";
import { OrbitError } from "#shared/errors.js";
import { loadManagerConfig } from "./config.js";
import { startManager } from "./manager.js";

try {
  const config = loadManagerConfig();
  const log = pino({ level: config.logLevel });
  const m = await startManager(config, log);
  log.info({ api: m.apiUrl, grpc: m.grpcAddress }, "orbit-manager started");
  if (m.createdAdminKey && !config.adminKey) {
    // Shown once: only its hash is stored.
    process.stdout.write(`\nAdmin API key (shown once): ${m.createdAdminKey}\n\n`);
  }
  if (!config.agentToken) {
    process.stdout.write(`Agent join token for this run (set ORBIT_AGENT_TOKEN to fix one): ${m.agentToken}\n`);
  }
  const stop = async () => { await m.close(); process.exit(0); };
  process.on("SIGINT", () => void stop());
  process.on("SIGTERM", () => void stop());
} catch (e) {
  process.stderr.write(`orbit-manager: ${e instanceof OrbitError ? e.message : (e as Error).stack}\n`);
  process.exit(1);
}
