// One simulated host of orbit-sim: a real gRPC client of the manager with its own identity
// (registered with the join token, then its host secret) and its own Connect stream, the
// simulator driver behind it, and the real agent's command executor. Lean where the real
// agent (agent.ts, agent-connection.ts) pays per host: no timers of its own (the fleet's
// SharedTicker), no files, no logger of its own, a gRPC channel shared with other hosts.
import * as grpc from "@grpc/grpc-js";
import type { Logger } from "pino";
import {
  PowerState, type AgentMessage, type AgentServiceClient, type Command, type CommandResult, type HostFacts, type ManagerMessage,
} from "#shared/protocol.js";
import { writeFile } from "node:fs/promises";
import { CommandExecutor } from "../commands/command-executor.js";
import { AgentConsoles } from "../console/agent-consoles.js";
import { reconnectDelayMs, type BackoffSettings } from "../connection/reconnect.js";
import { capabilityNames, type DomainLifecycleEvent } from "../drivers/hypervisor.js";
import { simulatedGpus } from "../drivers/simulator/simulated-gpus.js";
import { SimulatorHypervisor } from "../drivers/simulator/simulator-hypervisor.js";
import { AGENT_VERSION } from "../agent.js";
import { HostProber } from "../ha/host-prober.js";
import { StorageHeartbeatWriter, nodeHeartbeatFs, type HeartbeatFs } from "../ha/storage-heartbeat.js";
import { SIMULATED_START_FAILURE, commandLatencyMs, startFails } from "./command-timing.js";
import type { SimHostSpec } from "./fleet-mix.js";
import { seededRandom, type Random } from "./seeded-random.js";
import type { Scheduled, SharedTicker } from "./shared-ticker.js";

/** What every host of a fleet shares. */
export interface SimHostContext {
  joinToken: string;
  /** The channel this host dials manager `address` over (shared with other hosts, see SimFleet). */
  client(address: number, hostIndex: number): AgentServiceClient;
  /** The channel failed to reach manager `address`: the next hosts get a fresh one (grpc-js would hold this one in its own backoff). */
  clientFailed(address: number, hostIndex: number, client: AgentServiceClient): void;
  /** How many manager addresses there are (a host that loses one tries the next). */
  addresses: number;
  ticker: SharedTicker;
  /** Lets at most N registrations run at once (a fleet starting together is not a DoS). */
  registrations: <T>(fn: () => Promise<T>) => Promise<T>;
  counters: SimCounters;
  /** Records one heartbeat's lag (send → ack, ms). */
  recordLag(ms: number): void;
  log: Logger;
  heartbeatIntervalMs: number;
  latencyScale: number;
  startFailureRate: number;
  backoff: BackoffSettings;
  environment: string;
  cluster: string;
  /**
   * HA: a directory every host of the fleet writes its storage heartbeat file in (as the agent
   * does on the cluster's shared storage) and reads its neighbours' from when the manager asks it
   * to probe one; undefined: no storage heartbeat, no probes (the host cannot be declared Down).
   */
  storageHeartbeatDir?: string | undefined;
  /** HA: the address neighbours probe this host on (ping and TCP 22), reported in its facts. */
  clusterAddress?: string | undefined;
}

/** Storage heartbeats without the fsync: a simulated fleet writes thousands a second to one local disk. */
const SIM_HEARTBEAT_FS: HeartbeatFs = { ...nodeHeartbeatFs, writeSynced: (file, data) => writeFile(file, data) };

/** Until the manager says (AgentSettings.storage_heartbeat_interval_ms), as the agent's self-fencer. */
const DEFAULT_STORAGE_HEARTBEAT_MS = 1000;

export interface SimCounters {
  registered: number;
  connected: number;
  heartbeatsSent: number;
  acks: number;
  commands: number;
  commandFailures: number;
  startFailuresInjected: number;
  streamsLost: number;
  registrationFailures: number;
}

export function newCounters(): SimCounters {
  return { registered: 0, connected: 0, heartbeatsSent: 0, acks: 0, commands: 0, commandFailures: 0, startFailuresInjected: 0, streamsLost: 0, registrationFailures: 0 };
}

export type SimHostState = "idle" | "connecting" | "connected" | "dead" | "stopped";

/** How a host dies: its stream cancelled (the manager sees it go), or silent (stream open, nothing sent or answered). */
export type DeathMode = "cancel" | "silent";

type Stream = grpc.ClientDuplexStream<AgentMessage, ManagerMessage>;

const EVENT_POWER: Record<string, PowerState> = {
  started: PowerState.POWER_STATE_RUNNING, resumed: PowerState.POWER_STATE_RUNNING, stopped: PowerState.POWER_STATE_SHUTOFF,
  shutdown: PowerState.POWER_STATE_SHUTTING_DOWN, suspended: PowerState.POWER_STATE_PAUSED, crashed: PowerState.POWER_STATE_CRASHED,
  pmsuspended: PowerState.POWER_STATE_SUSPENDED,
};

export class SimHost {
  hypervisor: SimulatorHypervisor;
  private executor: CommandExecutor;
  private readonly random: Random;
  state: SimHostState = "idle";
  identity: { hostId: string; hostSecret: string } | undefined;
  bootId: string;
  private address = 0;
  private stream: Stream | undefined;
  private beatTimer: Scheduled | undefined;
  private retryTimer: Scheduled | undefined;
  private interval: number;
  private failures = 0;
  private seq = 0;
  /** Heartbeats not acked yet, oldest first: seq, sent_at_ms, seq, sent_at_ms... */
  private pending: number[] = [];
  private pendingHead = 0;
  private outbox: CommandResult[] = [];
  private sendChain: Promise<void> = Promise.resolve();
  /** Sends queued in sendChain and not done: at 0 a heartbeat is written at once, with nothing to wait behind. */
  private sendsQueued = 0;
  private consoles: AgentConsoles | undefined;
  private unsubscribe: (() => void) | undefined;
  /** Heartbeats kept in flight by flood(): each ack sends the next (0: normal heartbeats). */
  private floodWindow = 0;
  private readonly storageWriter: StorageHeartbeatWriter | undefined;
  private readonly prober: HostProber | undefined;
  private storageTimer: Scheduled | undefined;
  private storageIntervalMs = DEFAULT_STORAGE_HEARTBEAT_MS;

  constructor(readonly spec: SimHostSpec, private readonly ctx: SimHostContext, seed: number) {
    this.random = seededRandom(seed);
    this.interval = ctx.heartbeatIntervalMs;
    this.bootId = this.newBootId();
    const dir = ctx.storageHeartbeatDir;
    if (dir) {
      this.storageWriter = new StorageHeartbeatWriter({ dir, hostUuid: () => spec.uuid, timeoutMs: 1000, fs: SIM_HEARTBEAT_FS });
      // A simulated host has no network of its own to ping or knock on (and a fleet process
      // spawning `ping` for each probe answers too late when loaded): the network leg says
      // "unreachable" at once, as for a host whose network is cut; its storage heartbeat decides.
      const noNetwork = async () => ({ reachable: false, detail: "simulated host: no network to probe" });
      this.prober = new HostProber({ heartbeatDir: dir, fs: SIM_HEARTBEAT_FS, ping: noNetwork, knock: noNetwork });
    }
    this.hypervisor = this.newHypervisor();
    this.executor = this.newExecutor();
  }

  private newExecutor(): CommandExecutor {
    const prober = this.prober;
    return new CommandExecutor(this.hypervisor, prober ? { probeHost: (p) => prober.probe(p) } : {});
  }

  /** The storage heartbeat, written while the host lives (a dead one's file ages, as a powered-off host's). */
  private scheduleStorageBeat(inMs: number): void {
    if (!this.storageWriter) return;
    this.storageTimer?.cancel();
    this.storageTimer = this.ctx.ticker.at(Date.now() + inMs, () => {
      if (this.state === "dead" || this.state === "stopped") return;
      void this.storageWriter!.write().then((w) => {
        if (!w.ok) this.ctx.log.warn({ host: this.spec.hostname, err: w.error }, "storage heartbeat write failed");
      });
      this.scheduleStorageBeat(this.storageIntervalMs);
    });
  }

  private newBootId(): string {
    const hex = () => Math.floor(this.random() * 0x10000).toString(16).padStart(4, "0");
    return `${hex()}${hex()}-${hex()}-4${hex().slice(1)}-a${hex().slice(1)}-${hex()}${hex()}${hex()}`;
  }

  private newHypervisor(): SimulatorHypervisor {
    const s = this.spec;
    const hv = new SimulatorHypervisor({
      hostUuid: s.uuid, hostname: s.hostname, cpus: s.cpus, memoryMib: s.memoryMib, numaCells: s.numaCells, startDelayMs: 0,
      failStart: () => {
        if (!startFails(this.ctx.startFailureRate, this.random)) return undefined;
        this.ctx.counters.startFailuresInjected++;
        return SIMULATED_START_FAILURE;
      },
    });
    this.unsubscribe?.();
    this.unsubscribe = hv.onDomainEvent((e) => this.sendEvent(e));
    return hv;
  }

  start(): void {
    if (this.state === "connecting" || this.state === "connected") return;
    this.state = "connecting";
    void this.session();
  }

  /** The host dies: no more heartbeats, no answers; with "cancel" its stream is cancelled too. */
  kill(mode: DeathMode = "cancel"): void {
    if (this.state === "dead" || this.state === "stopped") return;
    this.state = "dead";
    this.floodWindow = 0;
    this.beatTimer?.cancel();
    this.storageTimer?.cancel();
    this.retryTimer?.cancel();
    if (mode === "cancel") this.stream?.cancel();
  }

  /**
   * A dead host comes back with its identity (its network returned); with reboot it lost its
   * domains and reports a new boot id, as after a power cycle.
   */
  revive(opts: { reboot?: boolean } = {}): void {
    if (this.state !== "dead") return;
    this.stream?.cancel();
    this.stream = undefined;
    if (opts.reboot) {
      this.bootId = this.newBootId();
      this.hypervisor = this.newHypervisor();
      this.executor = this.newExecutor();
    }
    this.state = "idle";
    this.start();
  }

  stop(): void {
    this.state = "stopped";
    this.floodWindow = 0;
    this.beatTimer?.cancel();
    this.storageTimer?.cancel();
    this.retryTimer?.cancel();
    this.unsubscribe?.();
    this.stream?.cancel();
  }

  /** Sends heartbeats back to back, `window` in flight, until stopFlood (the transport's limit). */
  flood(window: number): void {
    this.floodWindow = window;
    this.beatTimer?.cancel();
    for (let i = 0; i < window; i++) this.heartbeat();
  }

  stopFlood(): void {
    this.floodWindow = 0;
    if (this.state === "connected") this.scheduleBeat(this.interval * this.random());
  }

  /** Heartbeats sent and not acked yet, with the oldest one's age. */
  unacked(now = Date.now()): { count: number; oldestAgeMs: number } {
    const count = (this.pending.length - this.pendingHead) / 2;
    return { count, oldestAgeMs: count ? now - this.pending[this.pendingHead + 1]! : 0 };
  }

  async facts(): Promise<HostFacts> {
    const hf = await this.hypervisor.hostFacts();
    return {
      ...hf,
      hostTags: this.spec.tags, environment: this.ctx.environment, cluster: this.ctx.cluster,
      gpus: simulatedGpus(this.spec.uuid, this.spec.gpus, this.spec.numaCells),
      agentVersion: AGENT_VERSION, discoveryWarnings: [], capabilities: capabilityNames(this.hypervisor),
      // Not a migration destination; probed and with a storage heartbeat only when the fleet has a dir (HA runs).
      migrationUri: "", clusterAddress: this.ctx.clusterAddress ?? "", storageHeartbeatDir: this.ctx.storageHeartbeatDir ?? "",
    };
  }

  private metadata(): grpc.Metadata {
    const md = new grpc.Metadata();
    if (this.identity) {
      md.set("x-orbit-host-id", this.identity.hostId);
      md.set("x-orbit-host-secret", this.identity.hostSecret);
    }
    return md;
  }

  private async session(): Promise<void> {
    const client = this.ctx.client(this.address, this.spec.index);
    try {
      const facts = await this.facts();
      const res = await this.ctx.registrations(() => new Promise<{ hostId: string; hostSecret: string; settings?: { heartbeatIntervalMs: number; storageHeartbeatIntervalMs: number } | undefined }>((resolve, reject) => {
        const known = Boolean(this.identity);
        client.register({ token: known ? "" : this.ctx.joinToken, facts, csrPem: "" }, known ? this.metadata() : new grpc.Metadata(),
          { deadline: Date.now() + 30_000 }, (err, r) => (err ? reject(err) : resolve(r)));
      }));
      if (this.state !== "connecting") return;
      this.identity = { hostId: res.hostId, hostSecret: res.hostSecret };
      if (res.settings?.heartbeatIntervalMs) this.interval = res.settings.heartbeatIntervalMs;
      if (res.settings?.storageHeartbeatIntervalMs) this.storageIntervalMs = res.settings.storageHeartbeatIntervalMs;
      this.ctx.counters.registered++;
      this.scheduleStorageBeat(0);
      this.openStream(client);
    } catch (e) {
      const err = e as grpc.ServiceError;
      this.ctx.counters.registrationFailures++;
      if (err.code === grpc.status.UNAVAILABLE) this.ctx.clientFailed(this.address, this.spec.index, client);
      this.ctx.log.warn({ host: this.spec.hostname, err: `${err.code ?? ""} ${err.details || err.message}` }, "registration failed");
      this.retry();
    }
  }

  private openStream(client: AgentServiceClient): void {
    const stream = client.connect(this.metadata());
    this.stream = stream;
    this.state = "connected";
    this.failures = 0;
    this.ctx.counters.connected++;
    let ended = false;
    const end = (why: string) => {
      if (ended) return;
      ended = true;
      this.ctx.counters.connected--;
      if (this.stream === stream) this.stream = undefined;
      this.pending = [];
      this.pendingHead = 0;
      this.consoles?.attach(undefined);
      if (this.state !== "connected") return; // killed or stopped: no reconnect
      this.ctx.counters.streamsLost++;
      this.ctx.log.warn({ host: this.spec.hostname, why }, "lost the manager");
      this.beatTimer?.cancel();
      this.state = "connecting";
      this.retry();
    };
    stream.on("data", (m: ManagerMessage) => this.onMessage(m));
    this.consoles?.attach({ send: (msg) => { stream.write(msg); return stream.writableLength; } });
    stream.on("end", () => end("stream ended by manager"));
    stream.on("error", (e: grpc.ServiceError) => end(`stream error: ${e.code} ${e.details || e.message}`));
    // Results that waited go first, then a full heartbeat; the next ones spread over the interval.
    this.enqueue(async () => {
      while (this.outbox.length) stream.write({ body: { $case: "commandResult", value: this.outbox.shift()! } });
    });
    this.heartbeat();
    this.scheduleBeat(this.interval * this.random());
  }

  private retry(): void {
    if (this.state !== "connecting") return;
    this.failures++;
    if (this.failures > 1 && this.ctx.addresses > 1) this.address = (this.address + 1) % this.ctx.addresses;
    const delay = reconnectDelayMs(this.failures, this.ctx.backoff, this.random);
    this.retryTimer = this.ctx.ticker.at(Date.now() + delay, () => { void this.session(); });
  }

  private scheduleBeat(inMs: number): void {
    this.beatTimer?.cancel();
    this.beatTimer = this.ctx.ticker.at(Date.now() + inMs, this.beatDue);
  }

  /** Bound once: every host schedules it every interval. */
  private readonly beatDue = (): void => {
    if (this.state !== "connected" || this.floodWindow) return;
    this.heartbeat();
    this.scheduleBeat(this.interval);
  };

  private enqueue(step: () => Promise<void>): void {
    this.sendsQueued++;
    this.sendChain = this.sendChain.then(step)
      .catch((e) => this.ctx.log.warn({ host: this.spec.hostname, err: (e as Error).message }, "send failed"))
      .finally(() => { this.sendsQueued--; });
  }

  /**
   * A heartbeat goes through the send queue: its domain list is never older than a result sent
   * before it. With nothing queued (nearly always) it is written at once: no promise per heartbeat.
   */
  private heartbeat(): void {
    if (this.sendsQueued === 0) this.writeHeartbeat();
    else this.enqueue(async () => this.writeHeartbeat());
  }

  private writeHeartbeat(): void {
    const stream = this.stream;
    if (!stream || this.state !== "connected") return;
    const seq = ++this.seq;
    const sentAtMs = Date.now();
    this.pending.push(seq, sentAtMs);
    this.ctx.counters.heartbeatsSent++;
    stream.write({
      body: { $case: "heartbeat", value: { seq, sentAtMs, domains: this.hypervisor.listDomainsNow(), freeMemoryMib: this.hypervisor.freeMemoryMibNow(), bootId: this.bootId } },
    });
  }

  private onAck(seq: number): void {
    const now = Date.now();
    const p = this.pending;
    // Acks come in order (the manager handles a stream's messages one at a time).
    while (this.pendingHead < p.length && p[this.pendingHead]! < seq) this.pendingHead += 2;
    if (this.pendingHead < p.length && p[this.pendingHead] === seq) {
      this.ctx.recordLag(now - p[this.pendingHead + 1]!);
      this.ctx.counters.acks++;
      this.pendingHead += 2;
    }
    if (this.pendingHead > 1024) {
      this.pending = p.slice(this.pendingHead);
      this.pendingHead = 0;
    }
    if (this.floodWindow && this.state === "connected") this.heartbeat();
  }

  private sendEvent(e: DomainLifecycleEvent): void {
    this.enqueue(async () => {
      if (this.state !== "connected") return;
      this.stream?.write({
        body: {
          $case: "event",
          value: { atMs: Date.now(), body: { $case: "domain", value: { vmUuid: e.vmUuid, event: e.event, detail: e.detail, powerState: EVENT_POWER[e.event] ?? PowerState.POWER_STATE_UNSPECIFIED } } },
        },
      });
    });
  }

  private onMessage(m: ManagerMessage): void {
    // A silent (dead) host hears nothing.
    if (this.state !== "connected") return;
    const b = m.body;
    if (!b) return;
    switch (b.$case) {
      case "ack": this.onAck(Number(b.value.seq)); return;
      case "command": this.onCommand(b.value); return;
      case "settings":
        if (b.value.storageHeartbeatIntervalMs) this.storageIntervalMs = b.value.storageHeartbeatIntervalMs;
        if (b.value.heartbeatIntervalMs && b.value.heartbeatIntervalMs !== this.interval) {
          this.interval = b.value.heartbeatIntervalMs;
          if (!this.floodWindow) this.scheduleBeat(this.interval * this.random());
        }
        return;
      case "consoleOpen": void this.consolesFor().onOpen(b.value); return;
      case "consoleInput": this.consoles?.onInput(b.value); return;
      case "consoleClose": this.consoles?.onClose(b.value.sessionId); return;
    }
  }

  /** Console sessions are rare: their machinery is made for the hosts that get one. */
  private consolesFor(): AgentConsoles {
    if (!this.consoles) {
      this.consoles = new AgentConsoles({ hypervisor: this.hypervisor, log: this.ctx.log });
      const stream = this.stream;
      if (stream) this.consoles.attach({ send: (msg) => { stream.write(msg); return stream.writableLength; } });
    }
    return this.consoles;
  }

  /** A command runs after the latency its kind takes on a real host; its result goes back on the stream (or waits for the next one). */
  private onCommand(cmd: Command): void {
    this.ctx.counters.commands++;
    const delay = commandLatencyMs(cmd.body?.$case ?? "default", this.ctx.latencyScale, this.random);
    const run = () => {
      if (this.state === "dead" || this.state === "stopped") return;
      void this.executor.execute(cmd).then((result) => {
        if (!result.ok) this.ctx.counters.commandFailures++;
        if (this.state === "dead" || this.state === "stopped") return;
        this.enqueue(async () => {
          if (this.stream && this.state === "connected") this.stream.write({ body: { $case: "commandResult", value: result } });
          else this.outbox.push(result);
        });
      });
    };
    if (delay > 0) this.ctx.ticker.at(Date.now() + delay, run);
    else run();
  }
}
