// `npm start`: the embedded default. The manager on PGlite (in ./.orbit-data) plus a small
// simulated fleet connected over real gRPC on loopback. Prints the API URL, docs, admin key and
// join token. The simulated hosts keep their identities and domains in the data folder, so a
// restart finds the VMs as it left them (as if the hosts had stayed up meanwhile).
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { exitOnStartupFailure } from "#shared/exit-on-startup-failure.js";
import { loadManagerConfig } from "@orbit/manager/src/config.js";
import { createManagerLogger } from "@orbit/manager/src/logging.js";
import { lockDataDir } from "@orbit/manager/src/data-dir-lock.js";
import { assertListenAddressesFree, explainListenFailure, routeGrpcLogs } from "@orbit/manager/src/listen-addresses.js";
import { startManager, type RunningManager } from "@orbit/manager/src/manager.js";
import { startSimulatedFleet } from "./simulated-fleet.js";

let manager: RunningManager | undefined;
try {
  const config = loadManagerConfig(process.env, { profile: "embedded" });
  const log = createManagerLogger({ level: config.logLevel === "info" ? "warn" : config.logLevel });
  routeGrpcLogs(log);
  // ORBIT_DATA_DIR=":memory:" keeps everything in memory: nothing to lock, nothing survives.
  const persistent = config.dataDir !== ":memory:";
  // Before anything opens the database or the hosts' files: one process per data folder.
  if (persistent) lockDataDir(config.dataDir);
  await assertListenAddressesFree(config);
  // The embedded default keeps its generated admin key in the data folder so a restart can show it again.
  const keyFile = path.join(config.dataDir, "admin-key");
  if (persistent && !config.adminKey && existsSync(keyFile)) config.adminKey = readFileSync(keyFile, "utf8").trim();
  manager = await startManager(config, log).catch((e: unknown) => { throw explainListenFailure(e, config); });
  if (persistent && manager.createdAdminKey && !process.env.ORBIT_ADMIN_KEY) writeFileSync(keyFile, manager.createdAdminKey + "\n", { mode: 0o600 });
  const fleet = await startSimulatedFleet({
    managerAddress: manager.grpcAddress, joinToken: manager.agentToken, log, heartbeatIntervalMs: 2000,
    // Persisted like real agents' identities and real hosts' domains, so a restart reconnects the same hosts.
    ...(persistent ? { stateDir: path.join(config.dataDir, "agents") } : {}),
  });
  const adminKey = config.adminKey ?? manager.createdAdminKey ?? "(see ORBIT_ADMIN_KEY)";
  // A convenience: a real orbit-agent can join the same manager beside the simulated hosts.
  const joinHelp = config.allowStaticJoinToken
    ? `A real orbit-agent joins this manager with:\n  ORBIT_AGENT_TOKEN=${manager.agentToken} orbit-agent --manager ${manager.grpcAddress}`
    : "Real orbit-agents join with one-time tokens: POST /v1/admin/registration-tokens (ORBIT_ALLOW_STATIC_JOIN_TOKEN=false).";

  console.log(`
Orbit is running (embedded: ${config.databaseUrl ? "PostgreSQL" : persistent ? `PGlite in ${path.resolve(config.dataDir)}` : "in memory"}, ${fleet.agents.length} simulated hosts over gRPC ${manager.grpcAddress})

  API         ${manager.apiUrl}/v1
  Docs        ${manager.apiUrl}/docs
  OpenAPI     ${manager.apiUrl}/openapi.json
  Admin key   ${adminKey}${config.allowStaticJoinToken ? `\n  Join token  ${manager.agentToken}` : ""}

Try:
  curl -s -H "api_key: ${adminKey}" ${manager.apiUrl}/v1/admin/hosts
${joinHelp}
Press Ctrl-C to stop${persistent ? " (VMs, hosts and keys stay in the data folder for the next start)" : ""}.
`);

  const running = manager;
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    await fleet.stop();
    await running.close();
    process.exit(0);
  };
  process.on("SIGINT", () => void stop());
  process.on("SIGTERM", () => void stop());
} catch (e) {
  // Close what started (PGlite above all) before saying why.
  await manager?.close().catch((err: unknown) => manager?.log.warn({ err }, "closing after the failed start failed too"));
  exitOnStartupFailure("orbit", e);
}
