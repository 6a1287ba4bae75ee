// The agent's side of the protocol: dial the manager, register (join token the first time,
// host secret afterwards), keep one stream open for heartbeats, events, commands and results,
// and reconnect with exponential backoff and jitter when the manager goes away. Results that
// could not be delivered wait in an outbox and are sent after the reconnect.
import * as grpc from "@grpc/grpc-js";
import type { Logger } from "pino";
import {
  AgentServiceClient, PowerState, type AgentMessage, type Command, type CommandResult, type HostFacts,
  type ManagerMessage, type RegisterResponse,
} from "#shared/protocol.js";
import type { CommandExecutor } from "../commands/command-executor.js";
import type { DomainLifecycleEvent, Hypervisor } from "../drivers/hypervisor.js";
import type { IdentityStore } from "./identity-store.js";

export interface AgentConnectionOptions {
  managerAddress: string;
  joinToken: string | undefined;
  identity: IdentityStore;
  facts: () => Promise<HostFacts>;
  hypervisor: Hypervisor;
  executor: CommandExecutor;
  log: Logger;
  credentials?: grpc.ChannelCredentials;
  heartbeatIntervalMs?: number;
  backoff?: { initialMs: number; maxMs: number };
  /** For tests: a fixed random source for jitter. */
  random?: () => number;
}

type Stream = grpc.ClientDuplexStream<AgentMessage, ManagerMessage>;

const EVENT_POWER: Record<string, PowerState> = {
  started: PowerState.POWER_STATE_RUNNING,
  resumed: PowerState.POWER_STATE_RUNNING,
  stopped: PowerState.POWER_STATE_SHUTOFF,
  shutdown: PowerState.POWER_STATE_SHUTTING_DOWN,
  suspended: PowerState.POWER_STATE_PAUSED,
  crashed: PowerState.POWER_STATE_CRASHED,
  pmsuspended: PowerState.POWER_STATE_SUSPENDED,
};

export class AgentConnection {
  private client: AgentServiceClient | undefined;
  private stream: Stream | undefined;
  private stopped = false;
  private seq = 0;
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private interval: number;
  private readonly outbox: CommandResult[] = [];
  // Heartbeats and results leave through one queue: a heartbeat's domain list is taken inside
  // it, so the manager never sees a heartbeat older than a result it has already processed.
  private sendChain: Promise<void> = Promise.resolve();
  private loop: Promise<void> | undefined;
  private wake: (() => void) | undefined;
  private unsubscribe: (() => void) | undefined;
  /** Resolves the first time the agent is registered and its stream is open. */
  readonly connected: Promise<void>;
  private markConnected!: () => void;
  hostId: string | undefined;

  constructor(private readonly o: AgentConnectionOptions) {
    this.interval = o.heartbeatIntervalMs ?? 10_000;
    this.connected = new Promise((r) => { this.markConnected = r; });
  }

  start(): void {
    this.unsubscribe = this.o.hypervisor.onDomainEvent((e) => this.sendEvent(e));
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.unsubscribe?.();
    clearInterval(this.heartbeatTimer);
    this.stream?.cancel();
    this.wake?.();
    await this.loop;
    this.client?.close();
  }

  private metadata(): grpc.Metadata {
    const md = new grpc.Metadata();
    const id = this.o.identity.load();
    if (id) {
      md.set("x-orbit-host-id", id.hostId);
      md.set("x-orbit-host-secret", id.hostSecret);
    }
    return md;
  }

  private register(client: AgentServiceClient, facts: HostFacts, withIdentity: boolean): Promise<RegisterResponse> {
    const md = withIdentity ? this.metadata() : new grpc.Metadata();
    return new Promise((resolve, reject) => {
      client.register({ token: withIdentity ? "" : (this.o.joinToken ?? ""), facts, csrPem: "" }, md, { deadline: Date.now() + 15_000 }, (err, res) => (err ? reject(err) : resolve(res)));
    });
  }

  private async session(): Promise<void> {
    this.client ??= new AgentServiceClient(this.o.managerAddress, this.o.credentials ?? grpc.credentials.createInsecure());
    const client = this.client;
    const known = this.o.identity.load();
    const facts = await this.o.facts();
    if (known) facts.hostUuid = known.hostUuid;
    let res: RegisterResponse;
    try {
      res = await this.register(client, facts, Boolean(known));
    } catch (e) {
      const err = e as grpc.ServiceError;
      if (known && err.code === grpc.status.UNAUTHENTICATED && this.o.joinToken) {
        // The manager no longer knows this secret (reinstalled?): join again with the token.
        this.o.log.warn("manager refused the stored host identity; registering again with the join token");
        this.o.identity.clear();
        res = await this.register(client, facts, false);
      } else {
        throw e;
      }
    }
    this.o.identity.save({ hostId: res.hostId, hostSecret: res.hostSecret, hostUuid: facts.hostUuid });
    this.hostId = res.hostId;
    if (res.settings?.heartbeatIntervalMs) this.interval = res.settings.heartbeatIntervalMs;

    const stream = client.connect(this.metadata());
    this.stream = stream;
    const ended = new Promise<string>((resolve) => {
      stream.on("end", () => resolve("stream ended by manager"));
      stream.on("error", (e: grpc.ServiceError) => resolve(`stream error: ${e.code} ${e.details || e.message}`));
    });
    stream.on("data", (m: ManagerMessage) => this.onMessage(m));
    this.o.log.info({ hostId: res.hostId, manager: this.o.managerAddress }, "connected to manager");
    // Results that waited while disconnected go first, then a full heartbeat.
    this.enqueue(async () => {
      while (this.outbox.length) stream.write({ body: { $case: "commandResult", value: this.outbox.shift()! } });
    });
    this.heartbeat();
    this.scheduleHeartbeats();
    this.markConnected();
    const why = await ended;
    clearInterval(this.heartbeatTimer);
    this.stream = undefined;
    if (!this.stopped) this.o.log.warn({ why }, "lost the manager");
  }

  private async run(): Promise<void> {
    const initial = this.o.backoff?.initialMs ?? 500;
    const max = this.o.backoff?.maxMs ?? 30_000;
    const random = this.o.random ?? Math.random;
    let failures = 0;
    while (!this.stopped) {
      const began = Date.now();
      try {
        await this.session();
      } catch (e) {
        const err = e as grpc.ServiceError;
        this.o.log.warn({ code: err.code, err: err.details || err.message }, "could not reach or register with the manager");
      }
      if (this.stopped) break;
      failures = Date.now() - began > 30_000 ? 1 : failures + 1;
      // Full jitter: many agents coming back at once spread over the window.
      const delay = Math.min(max, initial * 2 ** (failures - 1)) * (0.5 + random());
      await new Promise<void>((r) => { this.wake = r; setTimeout(r, delay).unref(); });
    }
  }

  private scheduleHeartbeats(): void {
    clearInterval(this.heartbeatTimer);
    this.heartbeatTimer = setInterval(() => this.heartbeat(), this.interval);
  }

  private enqueue(step: () => Promise<void>): void {
    this.sendChain = this.sendChain.then(step).catch((e) => this.o.log.warn({ err: (e as Error).message }, "send failed"));
  }

  private heartbeat(): void {
    this.enqueue(async () => {
      const stream = this.stream;
      if (!stream) return;
      const [domains, free] = await Promise.all([this.o.hypervisor.listDomains(), this.o.hypervisor.freeMemoryMib()]);
      stream.write({ body: { $case: "heartbeat", value: { seq: ++this.seq, sentAtMs: Date.now(), domains, freeMemoryMib: free } } });
    });
  }

  private sendEvent(e: DomainLifecycleEvent): void {
    this.enqueue(async () => {
      this.stream?.write({
        body: {
          $case: "event",
          value: {
            atMs: Date.now(),
            body: { $case: "domain", value: { vmUuid: e.vmUuid, event: e.event, detail: e.detail, powerState: EVENT_POWER[e.event] ?? PowerState.POWER_STATE_UNSPECIFIED } },
          },
        },
      });
    });
  }

  private onMessage(m: ManagerMessage): void {
    const b = m.body;
    if (!b) return;
    if (b.$case === "command") void this.onCommand(b.value);
    else if (b.$case === "settings" && b.value.heartbeatIntervalMs) {
      this.interval = b.value.heartbeatIntervalMs;
      this.scheduleHeartbeats();
      this.o.log.info({ heartbeatIntervalMs: this.interval }, "heartbeat interval changed");
    }
  }

  private async onCommand(cmd: Command): Promise<void> {
    const repeat = this.o.executor.knows(cmd.commandId);
    this.o.log.info({ commandId: cmd.commandId, kind: cmd.body?.$case, vm: cmd.vmUuid, repeat }, "command");
    const result = await this.o.executor.execute(cmd);
    if (!result.ok) this.o.log.warn({ commandId: cmd.commandId, error: result.error }, "command failed");
    this.enqueue(async () => {
      if (this.stream) this.stream.write({ body: { $case: "commandResult", value: result } });
      else this.outbox.push(result);
    });
  }
}
