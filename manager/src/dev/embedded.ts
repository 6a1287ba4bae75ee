// `npm start`: the embedded default. The manager on PGlite (in ./.orbit-data) plus a small
// simulated fleet connected over real gRPC on loopback. Prints the API URL, docs and admin key.
import { existsSync, readFileSync, writeFileSync, mkdirSync } from "node:fs";
import path from "node:path";
import { loadManagerConfig } from "../config.js";
import { startManager } from "../manager.js";
import { createManagerLogger } from "../logging.js";
import { startSimulatedFleet } from "./simulated-fleet.js";

const config = loadManagerConfig(process.env, { profile: "embedded" });
mkdirSync(config.dataDir, { recursive: true });
// The embedded default keeps its generated admin key in the data folder so a restart can show it again.
const keyFile = path.join(config.dataDir, "admin-key");
if (!config.adminKey && existsSync(keyFile)) config.adminKey = readFileSync(keyFile, "utf8").trim();
const log = createManagerLogger({ level: config.logLevel === "info" ? "warn" : config.logLevel });
const manager = await startManager(config, log);
if (manager.createdAdminKey && !process.env.ORBIT_ADMIN_KEY) writeFileSync(keyFile, manager.createdAdminKey + "\n", { mode: 0o600 });
const fleet = await startSimulatedFleet({
  managerAddress: manager.grpcAddress, joinToken: manager.agentToken, log, heartbeatIntervalMs: 2000,
  // Persisted like real agents' identities, so a restart reconnects the same hosts.
  identityDir: path.join(config.dataDir, "agents"),
});
const adminKey = config.adminKey ?? manager.createdAdminKey ?? "(see ORBIT_ADMIN_KEY)";

console.log(`
Orbit is running (embedded: PGlite in ${path.resolve(config.dataDir)}, ${fleet.agents.length} simulated hosts over gRPC ${manager.grpcAddress})

  API        ${manager.apiUrl}/v1
  Docs       ${manager.apiUrl}/docs
  OpenAPI    ${manager.apiUrl}/openapi.json
  Admin key  ${adminKey}

Try:
  curl -s -H "api_key: ${adminKey}" ${manager.apiUrl}/v1/admin/hosts
Press Ctrl-C to stop.
`);

let stopping = false;
const stop = async () => {
  if (stopping) return;
  stopping = true;
  await fleet.stop();
  await manager.close();
  process.exit(0);
};
process.on("SIGINT", () => void stop());
process.on("SIGTERM", () => void stop());
