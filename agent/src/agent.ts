// An Orbit agent: one hypervisor driver, one GPU inventory, one connection to the manager.
import { randomUUID } from "node:crypto";
import path from "node:path";
import type { ChannelCredentials } from "@grpc/grpc-js";
import type { Logger } from "pino";
import type { Gpu, HostFacts } from "#shared/protocol.js";
import { CommandExecutor } from "./commands/command-executor.js";
import { MigrationProgressThrottle } from "./commands/migration-progress-throttle.js";
import { AgentConnection, type AgentTlsOptions } from "./connection/agent-connection.js";
import type { IdentityStore } from "./connection/identity-store.js";
import { capabilityNames, type Hypervisor } from "./drivers/hypervisor.js";
import type { GpuInventory } from "./gpu/gpu-inventory.js";
import { HostProber } from "./ha/host-prober.js";
import { SelfFencer } from "./ha/self-fencer.js";
import { StorageHeartbeatWriter, type HeartbeatFs } from "./ha/storage-heartbeat.js";
import type { ConnectionObserver } from "./monitoring/agent-metrics.js";

export const AGENT_VERSION = "0.1.0";

export interface AgentOptions {
  /** One manager or several (on one database): see AgentConnectionOptions.managerAddress. */
  managerAddress: string | readonly string[];
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
  /** HA (ha/README.md): the storage heartbeat dir (none: no heartbeat, never self-fences). */
  ha?: {
    storageHeartbeatDir?: string | undefined;
    /** Where the manager's HA settings are kept across agent restarts (state_dir/ha-settings.json). */
    settingsFile?: string | undefined;
    /** For tests: the heartbeat's file operations. */
    fs?: HeartbeatFs;
  };
  /** Told about connections, heartbeats and commands (its /metrics). */
  metrics?: ConnectionObserver;
}

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export class OrbitAgent {
  readonly connection: AgentConnection;
  readonly executor: CommandExecutor;
  // Some hypervisors report no host UUID (libvirt's test driver, odd firmware): make one up,
  // which the connection persists with the identity at registration.
  private readonly fallbackUuid = randomUUID();
  /** The UUID last reported in facts (the heartbeat file's name before the identity is saved). */
  private factsUuid = "";
  readonly fencer: SelfFencer;

  constructor(private readonly o: AgentOptions) {
    const dir = o.ha?.storageHeartbeatDir;
    const hfs = o.ha?.fs;
    const writer = dir
      ? new StorageHeartbeatWriter({ dir, hostUuid: () => o.identity.load()?.hostUuid ?? this.factsUuid, timeoutMs: 1_000, ...(hfs ? { fs: hfs } : {}) })
      : undefined;
    this.fencer = new SelfFencer({
      hypervisor: o.hypervisor, writer, log: o.log.child({ component: "ha" }), settingsFile: o.ha?.settingsFile,
      contactFile: o.ha?.settingsFile ? path.join(path.dirname(o.ha.settingsFile), "ha-contact.json") : undefined,
    });
    const prober = new HostProber({ heartbeatDir: dir, ...(hfs ? { fs: hfs } : {}) });
    // A running migration's progress goes to the manager as events, at most twice a second.
    const progress = new MigrationProgressThrottle((m) => this.connection.sendMigrationProgress(m));
    this.executor = new CommandExecutor(o.hypervisor, {
      onMigrationProgress: (vm, commandId, p) => progress.offer(vm, commandId, p),
      probeHost: (p) => prober.probe(p),
      refuseRun: (what, vm) => this.fencer.refuseWhileFenced(what, vm),
    });
    this.connection = new AgentConnection({
      managerAddress: o.managerAddress,
      joinToken: o.joinToken,
      identity: o.identity,
      facts: () => this.facts(),
      hypervisor: o.hypervisor,
      executor: this.executor,
      log: o.log,
      onManagerContact: () => this.fencer.managerContact(),
      onSettings: (s) => this.fencer.applySettings(s),
      ...(o.heartbeatIntervalMs ? { heartbeatIntervalMs: o.heartbeatIntervalMs } : {}),
      ...(o.statsIntervalMs !== undefined ? { statsIntervalMs: o.statsIntervalMs } : {}),
      ...(o.backoff ? { backoff: o.backoff } : {}),
      ...(o.reconnectLogEveryMs ? { reconnectLogEveryMs: o.reconnectLogEveryMs } : {}),
      ...(o.bootId ? { bootId: o.bootId } : {}),
      ...(o.credentials ? { credentials: o.credentials } : {}),
      ...(o.tls ? { tls: o.tls } : {}),
      ...(o.metrics ? { observer: o.metrics } : {}),
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
    this.factsUuid = this.o.identity.load()?.hostUuid ?? (UUID_RE.test(hf.hostUuid) ? hf.hostUuid : this.fallbackUuid);
    return {
      ...hf,
      hostUuid: this.factsUuid,
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
      storageHeartbeatDir: this.o.ha?.storageHeartbeatDir ?? "",
    };
  }

  start(): void {
    this.connection.start();
    this.fencer.start();
  }

  async stop(): Promise<void> {
    await this.fencer.stop();
    await this.connection.stop();
    await this.o.hypervisor.close();
  }
}
