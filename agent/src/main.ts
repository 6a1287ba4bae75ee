// `orbit-agent`: one per hypervisor host. Reads /etc/orbit/agent.yaml (or --config / ORBIT_AGENT_CONFIG),
// picks the driver (libvirt through virsh, or the simulator), discovers GPUs and dials the manager.
import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import path from "node:path";
import pino from "pino";
import { exitOnStartupFailure } from "#shared/exit-on-startup-failure.js";
import { OrbitAgent } from "./agent.js";
import { loadAgentConfig, type AgentConfig } from "./config/agent-config.js";
import { FileIdentityStore } from "./connection/identity-store.js";
import type { Hypervisor } from "./drivers/hypervisor.js";
import { LibvirtHypervisor } from "./drivers/libvirt/libvirt-hypervisor.js";
import { simulatedGpus } from "./drivers/simulator/simulated-gpus.js";
import { SimulatorHypervisor } from "./drivers/simulator/simulator-hypervisor.js";
import { SimulatorStateFile, simulatedBootId } from "./drivers/simulator/simulator-state-file.js";
import { StaticGpuInventory, type GpuInventory } from "./gpu/gpu-inventory.js";
import { MdevManager } from "./gpu/mdev-manager.js";
import { NvidiaGpuInventory } from "./gpu/nvidia-gpu-inventory.js";
import { VgpuHypervisor } from "./drivers/vgpu-hypervisor.js";
import { hostname } from "node:os";
import { startMetricsHttpServer, type MetricsHttpServer } from "#shared/metrics-http-server.js";
import { AgentMetrics } from "./monitoring/agent-metrics.js";

/** The kernel's id of the current boot: a new one means the host rebooted (and its domains went with it). */
function linuxBootId(): string {
  try {
    return readFileSync("/proc/sys/kernel/random/boot_id", "utf8").trim();
  } catch {
    return "";
  }
}

function buildDriver(
  c: AgentConfig, identity: FileIdentityStore, log: pino.Logger, fetchImage: (path: string, dest: string) => Promise<void>,
): { hv: Hypervisor; gpus: GpuInventory; bootId: string } {
  if (c.driver === "simulator") {
    // The simulated host keeps its domains in state_dir, with its UUID: a restart finds the same
    // host running the same domains, with the same GPU UUIDs.
    const hostUuid = identity.load()?.hostUuid ?? new SimulatorStateFile(c.stateDir).load()?.hostUuid ?? randomUUID();
    const hv = new SimulatorHypervisor({
      hostUuid,
      hostname: c.host.hostname ?? hostname(),
      cpus: c.simulator.cpus,
      memoryMib: c.simulator.memoryMib,
      numaCells: c.simulator.numaCells,
      startDelayMs: c.simulator.startDelayMs,
      stateDir: c.stateDir,
    });
    // A simulated host outlives its agent process with its domains and boot id (state_dir).
    return { hv, gpus: new StaticGpuInventory(simulatedGpus(hostUuid, c.simulator.gpus, c.simulator.numaCells)), bootId: simulatedBootId(c.stateDir) };
  }
  const l = c.libvirt;
  const libvirt = new LibvirtHypervisor({
    uri: l.uri,
    domainType: l.domainType,
    instancesDir: l.instancesDir,
    imagesDir: l.imagesDir,
    fetchImage,
    xml: {
      cpu: l.cpuMode === "custom" ? { mode: "custom", model: l.cpuModel } : { mode: l.cpuMode },
      machine: l.machine,
      cdromBus: l.cdromBus,
      firmware: { loader: l.ovmfCode, nvramTemplate: l.ovmfVars, secureBoot: l.secureBoot },
    },
    ...(c.host.hostname ? { hostname: c.host.hostname } : {}),
    onWarning: (m) => log.warn(m),
  });
  const gpus: GpuInventory = c.gpu.enabled
    ? new NvidiaGpuInventory({ nvidiaSmiPath: c.gpu.nvidiaSmi, sysfsRoot: c.gpu.sysfsRoot })
    : new StaticGpuInventory([]);
  // vGPUs need their mdev created on the host before the domain starts, and removed after.
  const hv = c.gpu.enabled ? new VgpuHypervisor(libvirt, new MdevManager({ sysfsRoot: c.gpu.sysfsRoot })) : libvirt;
  return { hv, gpus, bootId: linuxBootId() };
}

try {
  const config = loadAgentConfig({ argv: process.argv.slice(2), env: process.env, readFile: (p) => readFileSync(p, "utf8") });
  const log = pino({ level: config.logLevel });
  const identity = new FileIdentityStore(config.stateDir, { keyFile: config.tls.keyFile, certFile: config.tls.certFile });
  // mTLS is on as soon as the tls section says anything (a CA to trust, a server name, cert paths).
  const t = config.tls;
  const tlsOn = Boolean(t.caFile || t.serverName || t.certFile || t.keyFile);
  // Images missing on the host come from the manager over the agent's own connection.
  const fetchImage = (p: string, dest: string): Promise<void> => agent.connection.fetchImage(p, dest);
  const { hv, gpus, bootId } = buildDriver(config, identity, log, fetchImage);
  // metrics.listen: Prometheus metrics and the probes (healthz: alive; readyz: connected to a manager).
  const metrics = config.metrics.listen ? new AgentMetrics() : undefined;
  const agent: OrbitAgent = new OrbitAgent({
    managerAddress: config.managers,
    joinToken: config.token,
    identity,
    hypervisor: hv,
    gpus,
    host: config.host,
    log,
    backoff: { initialMs: config.reconnect.initialBackoffMs, maxMs: config.reconnect.maxBackoffMs },
    reconnectLogEveryMs: config.reconnect.logEveryMs,
    statsIntervalMs: config.stats.intervalMs,
    bootId: () => Promise.resolve(bootId),
    ha: { storageHeartbeatDir: config.ha.storageHeartbeatDir, settingsFile: path.join(config.stateDir, "ha-settings.json") },
    tls: tlsOn ? { caPem: t.caFile ? readFileSync(t.caFile) : undefined, serverName: t.serverName } : undefined,
    ...(metrics ? { metrics } : {}),
  });
  let metricsServer: MetricsHttpServer | undefined;
  if (metrics && config.metrics.listen) {
    metricsServer = await startMetricsHttpServer({
      ...config.metrics.listen, setting: "metrics.listen", metrics: () => metrics.scrape(),
      ready: () => metrics.connectedToManager ? { ready: true } : { ready: false, reason: "not connected to a manager" },
    });
    log.info({ url: metricsServer.url }, "serving /metrics, /healthz and /readyz");
  }
  log.info({ managers: config.managers, driver: config.driver, stateDir: path.resolve(config.stateDir) }, "orbit-agent starting");
  agent.start();
  const stop = async () => { await metricsServer?.close(); await agent.stop(); process.exit(0); };
  process.on("SIGINT", () => void stop());
  process.on("SIGTERM", () => void stop());
} catch (e) {
  exitOnStartupFailure("orbit-agent", e);
}
