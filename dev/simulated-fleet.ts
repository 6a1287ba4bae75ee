// A small simulated fleet: agents with the simulator driver, in this process, connected to a
// manager over real gRPC (loopback), exactly as remote agents would be.
import path from "node:path";
import type { Logger } from "pino";
import type { VmSpec } from "#shared/protocol.js";
import { OrbitAgent } from "@orbit/agent/src/agent.js";
import type { CapabilityName } from "@orbit/agent/src/drivers/hypervisor.js";
import type { AgentTlsOptions } from "@orbit/agent/src/connection/agent-connection.js";
import { FileIdentityStore, MemoryIdentityStore, type IdentityStore } from "@orbit/agent/src/connection/identity-store.js";
import { simulatedGpus, type SimulatedGpuGroup } from "@orbit/agent/src/drivers/simulator/simulated-gpus.js";
import { SimulatedMigrationNetwork } from "@orbit/agent/src/drivers/simulator/simulated-migration-network.js";
import { SimulatorHypervisor } from "@orbit/agent/src/drivers/simulator/simulator-hypervisor.js";
import { rebootSimulatedHost, simulatedBootId } from "@orbit/agent/src/drivers/simulator/simulator-state-file.js";
import { StaticGpuInventory } from "@orbit/agent/src/gpu/gpu-inventory.js";
import { nodeHeartbeatFs, type HeartbeatFs } from "@orbit/agent/src/ha/storage-heartbeat.js";

export interface SimulatedHostSpec {
  hostname: string;
  /** Stable, so a restart finds the same hosts. */
  uuid: string;
  cpus: number;
  memoryMib: number;
  numaCells?: number;
  gpus?: SimulatedGpuGroup[];
  tags?: string[];
  cluster?: string;
  environment?: string;
  /** The optional driver capabilities the host has (default: all), to simulate a driver that lacks some. */
  capabilities?: CapabilityName[];
  /**
   * Its address on the cluster network, which neighbours probe (default: its own 127.0.10.N, which
   * always answers). An unroutable one (the IPv6 discard prefix, 100::N) makes a host neighbours cannot reach.
   */
  clusterAddress?: string;
}

/** NVIDIA L40S time-sliced vGPU profiles (48 GB frame buffer split 4, 2 or 1 ways). */
export const L40S_VGPU_TYPES = [
  { name: "NVIDIA L40S-12Q", maxInstances: 4, framebufferMib: 12288 },
  { name: "NVIDIA L40S-24Q", maxInstances: 2, framebufferMib: 24576 },
  { name: "NVIDIA L40S-48Q", maxInstances: 1, framebufferMib: 49152 },
];

export const DEFAULT_FLEET: SimulatedHostSpec[] = [
  { hostname: "sim-cpu-1", uuid: "5e1a0000-0000-4000-8000-000000000001", cpus: 64, memoryMib: 256 * 1024, numaCells: 2 },
  { hostname: "sim-cpu-2", uuid: "5e1a0000-0000-4000-8000-000000000002", cpus: 64, memoryMib: 256 * 1024, numaCells: 2 },
  {
    hostname: "sim-h100-1", uuid: "5e1a0000-0000-4000-8000-000000000003", cpus: 256, memoryMib: 2048 * 1024, numaCells: 2,
    gpus: [{ model: "NVIDIA H100 80GB HBM3", memoryMib: 81559, count: 8 }], tags: ["gpu"],
  },
  {
    // A vGPU host: NVIDIA's time-sliced L40S profiles (one profile per GPU at a time).
    hostname: "sim-l40s-1", uuid: "5e1a0000-0000-4000-8000-000000000004", cpus: 128, memoryMib: 1024 * 1024, numaCells: 2,
    gpus: [{ model: "NVIDIA L40S", memoryMib: 46068, count: 4, vgpuTypes: L40S_VGPU_TYPES }], tags: ["gpu"],
  },
];

export interface FleetOptions {
  managerAddress: string;
  joinToken: string;
  log: Logger;
  hosts?: SimulatedHostSpec[];
  heartbeatIntervalMs?: number;
  /** How often agents send their VMs' counters (the agent's default: 60 s). */
  statsIntervalMs?: number;
  startDelayMs?: number;
  failStart?: (spec: VmSpec) => string | undefined;
  /** Set when the manager's gateway speaks mTLS: agents enroll with a CSR. */
  tls?: AgentTlsOptions;
  /**
   * Where each simulated host keeps its identity and its domains (a folder per host, named after
   * it), as real agents and hosts do, so a restart finds the same hosts running the same VMs; in
   * memory when absent.
   */
  stateDir?: string;
  /** HA: the shared storage heartbeat dir every host writes into and probes read (none: no HA evidence). */
  storageHeartbeatDir?: string;
}

export interface SimulatedFleet {
  agents: OrbitAgent[];
  /** The network the fleet's hosts live-migrate over (each host reachable under simulator://HOSTNAME). */
  migrationNetwork: SimulatedMigrationNetwork;
  hypervisors: SimulatorHypervisor[];
  /** Each host's boot id as its agent reports it. */
  bootIds: string[];
  /** Stops host i's agent (the host keeps its domains): the manager stops hearing from it. */
  stopAgent(i: number): Promise<void>;
  /**
   * Starts host i's agent again with its identity, and waits until it is connected. With reboot
   * the host lost its domains and reports a new boot id, as after a power cycle.
   */
  startAgent(i: number, opts?: { reboot?: boolean }): Promise<void>;
  /**
   * Cuts host i off (HA): its agent loses the manager and its storage heartbeat writes fail, as
   * when its network is cut; the host and its domains stay, and its agent fences itself
   * (self_fence_after_ms). startAgent(i) brings it back (its storage too).
   */
  isolateHost(i: number): Promise<void>;
  stop(): Promise<void>;
}

/** Host i's address on the simulated cluster network: its own loopback address (all of 127/8 answers on Linux). */
export function simulatedClusterAddress(i: number): string {
  return `127.0.${10 + Math.floor(i / 250)}.${(i % 250) + 1}`;
}

export async function startSimulatedFleet(o: FleetOptions): Promise<SimulatedFleet> {
  const specs = o.hosts ?? DEFAULT_FLEET;
  const hostDirs = specs.map((h) => (o.stateDir ? path.join(o.stateDir, h.hostname) : undefined));
  const identities: IdentityStore[] = hostDirs.map((d) => (d ? new FileIdentityStore(d) : new MemoryIdentityStore()));
  const hypervisors: SimulatorHypervisor[] = [];
  const bootIds: string[] = [];
  // One network for the fleet, as hosts of one cluster network: any host can migrate to any other.
  const migrationNetwork = new SimulatedMigrationNetwork();
  const migrationUri = (h: SimulatedHostSpec) => `simulator://${h.hostname}`;
  const newHost = (i: number) => {
    const h = specs[i]!;
    hypervisors[i] = new SimulatorHypervisor({
      hostUuid: h.uuid, hostname: h.hostname, cpus: h.cpus, memoryMib: h.memoryMib, numaCells: h.numaCells ?? 1,
      startDelayMs: o.startDelayMs ?? 200, ...(o.failStart ? { failStart: o.failStart } : {}), stateDir: hostDirs[i],
      capabilities: h.capabilities, migration: { network: migrationNetwork, uri: migrationUri(h) },
    });
    bootIds[i] = simulatedBootId(hostDirs[i]);
  };
  // Each host's storage: cut by isolateHost (its writes fail as on a lost NFS mount).
  const storageCut = specs.map(() => false);
  const heartbeatFs = (i: number): HeartbeatFs => ({
    ...nodeHeartbeatFs,
    writeSynced: (file, data) => (storageCut[i] ? Promise.reject(new Error("simulated: storage unreachable")) : nodeHeartbeatFs.writeSynced(file, data)),
    rename: (from, to) => (storageCut[i] ? Promise.reject(new Error("simulated: storage unreachable")) : nodeHeartbeatFs.rename(from, to)),
  });
  const newAgent = (i: number) => {
    const h = specs[i]!;
    return new OrbitAgent({
      managerAddress: o.managerAddress,
      joinToken: o.joinToken,
      identity: identities[i]!,
      hypervisor: hypervisors[i]!,
      gpus: new StaticGpuInventory(simulatedGpus(h.uuid, h.gpus ?? [], h.numaCells ?? 1)),
      host: {
        tags: h.tags ?? [], environment: h.environment ?? "default", cluster: h.cluster ?? "default",
        migrationUri: migrationUri(h), clusterAddress: h.clusterAddress ?? simulatedClusterAddress(i),
      },
      ...(o.storageHeartbeatDir ? { ha: { storageHeartbeatDir: o.storageHeartbeatDir, fs: heartbeatFs(i) } } : {}),
      log: o.log.child({ agent: h.hostname }),
      backoff: { initialMs: 200, maxMs: 5000 },
      bootId: () => Promise.resolve(bootIds[i]!),
      ...(o.heartbeatIntervalMs ? { heartbeatIntervalMs: o.heartbeatIntervalMs } : {}),
      ...(o.statsIntervalMs !== undefined ? { statsIntervalMs: o.statsIntervalMs } : {}),
      ...(o.tls ? { tls: o.tls } : {}),
    });
  };
  specs.forEach((_, i) => newHost(i));
  const agents = specs.map((_, i) => newAgent(i));
  const running = agents.map(() => true);
  for (const a of agents) a.start();
  await Promise.all(agents.map((a) => a.connection.connected));
  return {
    agents, hypervisors, bootIds, migrationNetwork,
    stopAgent: async (i) => {
      if (!running[i]) return;
      running[i] = false;
      // Only the connection: the simulated host (and its domains) stays.
      await agents[i]!.connection.stop();
    },
    isolateHost: async (i) => {
      if (!running[i]) return;
      running[i] = false;
      storageCut[i] = true;
      // The connection only: its self-fencer keeps running, as on the real host.
      await agents[i]!.connection.stop();
    },
    startAgent: async (i, opts = {}) => {
      if (running[i]) throw new Error(`agent ${i} is running`);
      // The previous agent process is gone for good (its fencer too); its storage is back.
      await agents[i]!.fencer.stop();
      storageCut[i] = false;
      if (opts.reboot) {
        const dir = hostDirs[i];
        if (dir) rebootSimulatedHost(dir);
        newHost(i);
      }
      agents[i] = newAgent(i);
      running[i] = true;
      agents[i].start();
      await agents[i].connection.connected;
    },
    stop: async () => { await Promise.all(agents.map((a, i) => (running[i] ? a.stop() : a.fencer.stop()))); },
  };
}
