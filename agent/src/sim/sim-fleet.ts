// orbit-sim's fleet: N simulated hosts in one process, each its own gRPC client identity and
// stream, sharing one timer, one lag recorder and a pool of gRPC channels.
//
// Connections: grpc-js multiplexes every call of a channel over one HTTP/2 connection, and
// channels with the same target and options share it too (its global subchannel pool). Each
// channel here has its own subchannel pool, so `agentsPerConnection` says exactly how many hosts'
// streams share one TCP connection: 1 (the default) is a real fleet, a connection per host;
// more makes 10,000 streams cost a few hundred sockets on both sides.
import * as grpc from "@grpc/grpc-js";
import type { Logger } from "pino";
import { AgentServiceClient } from "#shared/protocol.js";
import { InvalidArgumentError } from "#shared/errors.js";
import type { BackoffSettings } from "../connection/reconnect.js";
import { buildFleet, type SimHostSpec } from "./fleet-mix.js";
import { LagRecorder, type LagSummary } from "./lag-recorder.js";
import { SharedTicker } from "./shared-ticker.js";
import { SimHost, newCounters, type DeathMode, type SimCounters, type SimHostContext } from "./sim-host.js";
import { hostSeed } from "./seeded-random.js";

export interface SimFleetOptions {
  /** Manager gRPC addresses (host:port); a host that loses one tries the next. */
  managers: string[];
  joinToken: string;
  log: Logger;
  count?: number;
  /** Host kinds and weights, e.g. "cpu:70,h100:15,a100:10,vgpu:5" (fleet-mix.ts). */
  mix?: string;
  /** Or the hosts themselves. */
  hosts?: SimHostSpec[];
  seed?: number;
  namePrefix?: string;
  /** Until the manager's registration answer sets it. */
  heartbeatIntervalMs?: number;
  /** Hosts whose streams share one HTTP/2 connection (default 1). */
  agentsPerConnection?: number;
  /** Registrations in flight at once (default 64). */
  connectConcurrency?: number;
  /** Command latencies times this (0: instant; default 1). */
  latencyScale?: number;
  /** Share of VM starts that fail (default 0). */
  startFailureRate?: number;
  backoff?: BackoffSettings;
  environment?: string;
  cluster?: string;
  /** HA: where every host writes its storage heartbeat and reads its neighbours' (undefined: none). */
  storageHeartbeatDir?: string;
  /** HA: the address each host reports for neighbours' probes (default: none). */
  clusterAddress?: string;
  /**
   * The shared timer's resolution (default 50 ms): what is due runs together, so the streams'
   * writes of one tick leave together; a 10 ms tick costs ~2% of a core more at 300 heartbeats/s
   * (bench/agents/agent-footprint.ts).
   */
  tickMs?: number;
}

export interface FleetReport {
  hosts: number;
  counters: SimCounters;
  /** Heartbeat send → ack, over the window since the last report. */
  lag: LagSummary;
  /** Heartbeats still waiting for their ack, and the oldest one's age. */
  unacked: number;
  oldestUnackedMs: number;
}

function semaphore(limit: number): <T>(fn: () => Promise<T>) => Promise<T> {
  let running = 0;
  const waiting: (() => void)[] = [];
  return async (fn) => {
    if (running >= limit) await new Promise<void>((r) => waiting.push(r));
    running++;
    try {
      return await fn();
    } finally {
      running--;
      waiting.shift()?.();
    }
  };
}

export class SimFleet {
  readonly hosts: SimHost[];
  readonly counters = newCounters();
  /** Lags since the last report(), and since startWindow() while a window is open. */
  private readonly lags = new LagRecorder();
  private window: LagRecorder | undefined;
  private readonly ticker: SharedTicker;
  /** Channels by manager address, then by connection group. */
  private readonly clients: Map<number, AgentServiceClient>[];
  private readonly ctx: SimHostContext;
  private readonly perConnection: number;

  constructor(private readonly o: SimFleetOptions) {
    if (!o.managers.length) throw new InvalidArgumentError("managers", "at least one manager address is needed");
    this.perConnection = o.agentsPerConnection ?? 1;
    if (!Number.isInteger(this.perConnection) || this.perConnection < 1) {
      throw new InvalidArgumentError("agentsPerConnection", `agents per connection: ${this.perConnection} is not a whole number ≥ 1`);
    }
    const seed = o.seed ?? 1;
    const specs = o.hosts ?? buildFleet({ count: o.count ?? 10, mix: o.mix, seed, namePrefix: o.namePrefix });
    this.ticker = new SharedTicker(o.tickMs ?? 50);
    this.clients = o.managers.map(() => new Map());
    const ctx: SimHostContext = {
      joinToken: o.joinToken,
      client: (a, i) => this.client(a, i),
      clientFailed: (a, i, c) => this.clientFailed(a, i, c),
      addresses: o.managers.length,
      ticker: this.ticker,
      registrations: semaphore(o.connectConcurrency ?? 64),
      counters: this.counters,
      recordLag: (ms) => { this.lags.add(ms); this.window?.add(ms); },
      log: o.log,
      heartbeatIntervalMs: o.heartbeatIntervalMs ?? 10_000,
      latencyScale: o.latencyScale ?? 1,
      startFailureRate: o.startFailureRate ?? 0,
      backoff: o.backoff ?? { initialMs: 500, maxMs: 15_000 },
      environment: o.environment ?? "default",
      cluster: o.cluster ?? "default",
      storageHeartbeatDir: o.storageHeartbeatDir,
      clusterAddress: o.clusterAddress,
    };
    this.ctx = ctx;
    this.hosts = specs.map((s) => new SimHost(s, ctx, hostSeed(seed, s.index)));
  }

  private group(hostIndex: number): number {
    return Math.floor(hostIndex / this.perConnection);
  }

  private client(address: number, hostIndex: number): AgentServiceClient {
    const pool = this.clients[address]!;
    const g = this.group(hostIndex);
    let c = pool.get(g);
    if (!c) {
      c = new AgentServiceClient(this.o.managers[address]!, grpc.credentials.createInsecure(), {
        // Its own subchannel pool: its own connection, shared by exactly this group's hosts.
        "grpc.use_local_subchannel_pool": 1,
        "grpc.keepalive_time_ms": 60_000,
        // No transparent retries: grpc-js would otherwise keep every message of a stream in a
        // retry buffer until the call commits (a stream never does before its first answer),
        // and the sim reconnects by itself as the agent does.
        "grpc.enable_retries": 0,
        // No channelz: its traces and trackers per channel, subchannel and socket are memory and
        // CPU per host here (a channel per host by default), and nothing reads them.
        "grpc.enable_channelz": 0,
      });
      pool.set(g, c);
    }
    return c;
  }

  private clientFailed(address: number, hostIndex: number, failed: AgentServiceClient): void {
    const pool = this.clients[address]!;
    const g = this.group(hostIndex);
    if (pool.get(g) !== failed) return;
    pool.delete(g);
    failed.close();
  }

  /** Starts every host; resolves when all are connected (or after timeoutMs, with how many are). */
  async start(timeoutMs = 600_000): Promise<number> {
    for (const h of this.hosts) h.start();
    return this.waitConnected(this.hosts.length, timeoutMs);
  }

  async waitConnected(n: number, timeoutMs: number): Promise<number> {
    const end = Date.now() + timeoutMs;
    while (this.counters.connected < n && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
    return this.counters.connected;
  }

  kill(index: number, mode: DeathMode = "cancel"): void {
    this.host(index).kill(mode);
  }

  revive(index: number, opts: { reboot?: boolean } = {}): void {
    this.host(index).revive(opts);
  }

  host(index: number): SimHost {
    const h = this.hosts[index];
    if (!h) throw new InvalidArgumentError("host", `no host ${index}: the fleet has ${this.hosts.length}`);
    return h;
  }

  /** From now on, this share of VM starts fails (on every host). */
  setStartFailureRate(rate: number): void {
    if (!(rate >= 0 && rate <= 1)) throw new InvalidArgumentError("rate", `start failure rate: ${rate} is not between 0 and 1`);
    this.ctx.startFailureRate = rate;
  }

  flood(window: number): void {
    for (const h of this.hosts) if (h.state === "connected") h.flood(window);
  }

  stopFlood(): void {
    for (const h of this.hosts) h.stopFlood();
  }

  /** Counters so far, and the heartbeat lags of the window since the last report. */
  report(): FleetReport {
    const now = Date.now();
    let unacked = 0, oldest = 0;
    for (const h of this.hosts) {
      const u = h.unacked(now);
      unacked += u.count;
      oldest = Math.max(oldest, u.oldestAgeMs);
    }
    return { hosts: this.hosts.length, counters: { ...this.counters }, lag: this.lags.take(), unacked, oldestUnackedMs: oldest };
  }

  /** Opens a measurement window: the lags of every heartbeat acked until endWindow(). */
  startWindow(): void {
    this.window = new LagRecorder();
  }

  endWindow(): LagSummary {
    const s = this.window?.take() ?? this.lags.take();
    this.window = undefined;
    return s;
  }

  /** The number of gRPC channels (each one TCP connection when connected). */
  get connections(): number {
    return this.clients.reduce((n, m) => n + m.size, 0);
  }

  async stop(): Promise<void> {
    for (const h of this.hosts) h.stop();
    this.ticker.stop();
    // Let the cancels reach the wire before the channels close.
    await new Promise((r) => setTimeout(r, 50));
    for (const pool of this.clients) for (const c of pool.values()) c.close();
    for (const h of this.hosts) await h.hypervisor.close();
  }
}
