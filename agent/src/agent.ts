// An Orbit agent: one hypervisor driver, one GPU inventory, one connection to the manager.
import { randomUUID } from "node:crypto";
import type { ChannelCredentials } from "@grpc/grpc-js";
import type { Logger } from "pino";
import type { Gpu, HostFacts } from "#shared/protocol.js";
import { CommandExecutor } from "./commands/command-executor.js";
import { MigrationProgressThrottle } from "./commands/migration-progress-throttle.js";
import { AgentConnection, type AgentTlsOptions } from "./connection/agent-connection.js";
import type { IdentityStore } from "./connection/identity-store.js";
import { capabilityNames, type Hypervisor } from "./drivers/hypervisor.js";
import type { GpuInventory } from "./gpu/gpu-inventory.js";

export const AGENT_VERSION = "0.1.0";

export interface AgentOptions {
  managerAddress: string;
  joinToken: string | undefined;
  identity: IdentityStore;
  hypervisor: Hypervisor;
  gpus: GpuInventory;
  host: {
    tags: string[]; environment: string; cluster: string; hostname?: string | undefined;
    /** Reported in facts: the URI peers migrate to this host under, and its cluster-network address ("": none). */
    migrationUri?: string | undefined; clusterAddress?: string | undefined;
  };
  log: Logger;
  heartbeatIntervalMs?: number;
  /** How often the running VMs' counters go to the manager (0: never; default 60 s). */
  statsIntervalMs?: number;
  backoff?: { initialMs: number; maxMs: number };
  /** How often a manager that stays away is logged again. */
  reconnectLogEveryMs?: number;
  /** The host's boot id for heartbeats (changes when the host boots); empty when unknown. */
  bootId?: () => Promise<string>;
  credentials?: ChannelCredentials;
  /** Mutual TLS with the manager (CSR at registration, then the host certificate). */
  tls?: AgentTlsOptions | undefined;
}

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export class OrbitAgent {
  readonly connection: AgentConnection;
  readonly executor: CommandExecutor;
  // Some hypervisors report no host UUID (libvirt's test driver, odd firmware): make one up,
  // which the connection persists with the identity at registration.
  private readonly fallbackUuid = randomUUID();

  constructor(private readonly o: AgentOptions) {
    // A running migration's progress goes to the manager as events, at most twice a second.
    const progress = new MigrationProgressThrottle((m) => this.connection.sendMigrationProgress(m));
    this.executor = new CommandExecutor(o.hypervisor, { onMigrationProgress: (vm, commandId, p) => progress.offer(vm, commandId, p) });
    this.connection = new AgentConnection({
      managerAddress: o.managerAddress,
      joinToken: o.joinToken,
      identity: o.identity,
      facts: () => this.facts(),
      hypervisor: o.hypervisor,
      executor: this.executor,
      log: o.log,
      ...(o.heartbeatIntervalMs ? { heartbeatIntervalMs: o.heartbeatIntervalMs } : {}),
      ...(o.statsIntervalMs !== undefined ? { statsIntervalMs: o.statsIntervalMs } : {}),
      ...(o.backoff ? { backoff: o.backoff } : {}),
      ...(o.reconnectLogEveryMs ? { reconnectLogEveryMs: o.reconnectLogEveryMs } : {}),
      ...(o.bootId ? { bootId: o.bootId } : {}),
      ...(o.credentials ? { credentials: o.credentials } : {}),
      ...(o.tls ? { tls: o.tls } : {}),
    });
  }

  /** Everything the manager needs to know about this host; GPU trouble never hides CPU capacity. */
  async facts(): Promise<HostFacts> {
    const hf = await this.o.hypervisor.hostFacts();
    let gpus: Gpu[] = [];
    const warnings: string[] = [];
    try {
      const d = await this.o.gpus.discover();
      gpus = d.gpus;
      warnings.push(...d.warnings);
    } catch (e) {
      warnings.push(`GPU discovery failed: ${(e as Error).message}`);
    }
    for (const w of warnings) this.o.log.warn({ warning: w }, "GPU discovery problem; reporting the host without those GPUs");
    return {
      ...hf,
      hostUuid: this.o.identity.load()?.hostUuid ?? (UUID_RE.test(hf.hostUuid) ? hf.hostUuid : this.fallbackUuid),
      hostname: this.o.host.hostname ?? hf.hostname,
      hostTags: this.o.host.tags,
      environment: this.o.host.environment,
      cluster: this.o.host.cluster,
      migrationUri: this.o.host.migrationUri ?? "",
      clusterAddress: this.o.host.clusterAddress ?? "",
      gpus,
      agentVersion: AGENT_VERSION,
      discoveryWarnings: warnings,
      capabilities: capabilityNames(this.o.hypervisor),
    };
  }

  start(): void {
    this.connection.start();
  }

  async stop(): Promise<void> {
    await this.connection.stop();
    await this.o.hypervisor.close();
  }
}
