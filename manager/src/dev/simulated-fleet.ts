// A small simulated fleet: agents with the simulator driver, in this process, connected to a
// manager over real gRPC (loopback), exactly as remote agents would be.
import path from "node:path";
import type { Logger } from "pino";
import type { VmSpec } from "#shared/protocol.js";
import { OrbitAgent } from "../../../agent/src/agent.js";
import type { AgentTlsOptions } from "../../../agent/src/connection/agent-connection.js";
import { FileIdentityStore, MemoryIdentityStore } from "../../../agent/src/connection/identity-store.js";
import { simulatedGpus, type SimulatedGpuGroup } from "../../../agent/src/drivers/simulator/simulated-gpus.js";
import { SimulatorHypervisor } from "../../../agent/src/drivers/simulator/simulator-hypervisor.js";
import { StaticGpuInventory } from "../../../agent/src/gpu/gpu-inventory.js";

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
}

export interface SimulatedFleet {
  agents: OrbitAgent[];
  hypervisors: SimulatorHypervisor[];
  stop(): Promise<void>;
}

export async function startSimulatedFleet(o: FleetOptions): Promise<SimulatedFleet> {
  const specs = o.hosts ?? DEFAULT_FLEET;
  const hypervisors: SimulatorHypervisor[] = [];
  const agents = specs.map((h) => {
    const hostDir = o.stateDir ? path.join(o.stateDir, h.hostname) : undefined;
    const hv = new SimulatorHypervisor({
      hostUuid: h.uuid, hostname: h.hostname, cpus: h.cpus, memoryMib: h.memoryMib, numaCells: h.numaCells ?? 1,
      startDelayMs: o.startDelayMs ?? 200, ...(o.failStart ? { failStart: o.failStart } : {}), stateDir: hostDir,
    });
    hypervisors.push(hv);
    return new OrbitAgent({
      managerAddress: o.managerAddress,
      joinToken: o.joinToken,
      identity: hostDir ? new FileIdentityStore(hostDir) : new MemoryIdentityStore(),
      hypervisor: hv,
      gpus: new StaticGpuInventory(simulatedGpus(h.uuid, h.gpus ?? [], h.numaCells ?? 1)),
      host: { tags: h.tags ?? [], environment: h.environment ?? "default", cluster: h.cluster ?? "default" },
      log: o.log.child({ agent: h.hostname }),
      backoff: { initialMs: 200, maxMs: 5000 },
      ...(o.heartbeatIntervalMs ? { heartbeatIntervalMs: o.heartbeatIntervalMs } : {}),
      ...(o.tls ? { tls: o.tls } : {}),
    });
  });
  for (const a of agents) a.start();
  await Promise.all(agents.map((a) => a.connection.connected));
  return { agents, hypervisors, stop: async () => { await Promise.all(agents.map((a) => a.stop())); } };
}
