// The agent's side of the protocol: dial the manager, register (join token the first time,
// host secret afterwards), keep one stream open for heartbeats, events, commands and results,
// and reconnect with full-jitter exponential backoff when the manager goes away, for as long as
// the agent runs (the pending reconnect keeps the process alive: only a signal stops it). Results
// that could not be delivered wait in an outbox and are sent after the reconnect.
// With mTLS (options.tls) the first registration sends a CSR with the join token; the manager's
// certificate for this host then authenticates every later call instead of the host secret.
import * as grpc from "@grpc/grpc-js";
import type { Logger } from "pino";
import {
  AgentServiceClient, PowerState, type AgentMessage, type AgentSettings, type Command, type CommandResult, type HostFacts,
  type ManagerMessage, type MigrationProgress, type RegisterResponse,
} from "#shared/protocol.js";
import { toVmStatsMessage, type CommandExecutor } from "../commands/command-executor.js";
import { AgentConsoles } from "../console/agent-consoles.js";
import type { DomainLifecycleEvent, Hypervisor } from "../drivers/hypervisor.js";
import { certificateNeedsRenewal, certificateRenewalDue, hostCsrPem, newHostKeyPem } from "./host-key.js";
import { probeManagerCa } from "./manager-ca-probe.js";
import { fetchImageFile } from "./image-fetch.js";
import { HypervisorError } from "#shared/errors.js";
import type { ConnectionObserver } from "../monitoring/agent-metrics.js";
import { ManagerList } from "./manager-list.js";
import { ReconnectLog, roundRobinDelayMs, type BackoffSettings } from "./reconnect.js";
import type { AgentIdentity, AgentTlsIdentity, IdentityStore } from "./identity-store.js";

export interface AgentTlsOptions {
  /**
   * The manager's CA (agent.yaml tls.ca_file). Without it, the first contact trusts on first use
   * the CA the manager's TLS endpoint presents in its chain (manager-ca-probe.ts), registers over
   * a channel verified with it and pins it. An active man-in-the-middle at that very first
   * contact could present its own CA and capture the join token; set ca_file (the CA comes with
   * every token from POST /v1/admin/registration-tokens) to rule that out.
   */
  caPem?: Buffer | undefined;
  /** The name to verify in the manager's certificate when the address is not one of its names. */
  serverName?: string | undefined;
}

export interface AgentConnectionOptions {
  /** One manager, or several on one database: the stream is held to one, the next is tried when it is lost. */
  managerAddress: string | readonly string[];
  joinToken: string | undefined;
  identity: IdentityStore;
  facts: () => Promise<HostFacts>;
  hypervisor: Hypervisor;
  executor: CommandExecutor;
  log: Logger;
  /** Plain-text channel credentials (tests, the embedded default); ignored when tls is set. */
  credentials?: grpc.ChannelCredentials;
  /** Mutual TLS with the manager. */
  tls?: AgentTlsOptions | undefined;
  /**
   * Heartbeat interval until the manager's registration answer sets it (default 10 s). The
   * manager always does (its setting ping.interval, which its liveness deadline is
   * made of), so this only matters for a manager that sends none.
   */
  heartbeatIntervalMs?: number;
  /** Reconnect backoff; the manager may lower maxMs (AgentSettings.reconnect_backoff_max_ms). */
  backoff?: BackoffSettings;
  /** How often a manager that stays away is logged again (the first failure always is). */
  reconnectLogEveryMs?: number;
  /** The host's boot id, sent with every heartbeat (empty when unknown). */
  bootId?: () => Promise<string>;
  /**
   * How often the counters of the running VMs are sent (VmStatsReport; default 60 s, 0: never).
   * Only with a driver that has the "stats" capability.
   */
  statsIntervalMs?: number;
  /** Anything came from the manager (a registration answer, any stream message): HA counts it as reachable. */
  onManagerContact?: () => void;
  /** AgentSettings from the manager, at registration and on every change (HA takes its fields). */
  onSettings?: (s: AgentSettings) => void;
  /** For tests: a fixed random source for jitter. */
  random?: () => number;
  /** Told about connections, heartbeats and commands (monitoring/agent-metrics.ts). */
  observer?: ConnectionObserver;
}

export const DEFAULT_BACKOFF: BackoffSettings = { initialMs: 500, maxMs: 15_000 };
/**
 * How long dialing a manager may take before the next one is tried: a manager whose host is
 * gone (no refusal, only silence) must not hold the agent for grpc's own 20 s connect timeout.
 */
const DIAL_TIMEOUT_MS = 3_000;
export const DEFAULT_STATS_INTERVAL_MS = 60_000;
/** VMs per VmStatsReport: a host with more sends several (the manager accepts up to 2048). */
const STATS_SAMPLES_PER_REPORT = 512;

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

/**
 * Resolves once the client's channel is connected. Fails at once when the connection is refused
 * (the channel falls into TRANSIENT_FAILURE), and after timeoutMs when the address stays silent.
 */
function dial(client: grpc.Client, address: string, timeoutMs: number): Promise<void> {
  const channel = client.getChannel();
  const deadline = Date.now() + timeoutMs;
  const failed = (why: string) => Object.assign(new Error(why), { code: grpc.status.UNAVAILABLE, details: why });
  return new Promise((resolve, reject) => {
    const check = (): void => {
      const state = channel.getConnectivityState(true);
      if (state === grpc.connectivityState.READY) return resolve();
      if (state === grpc.connectivityState.TRANSIENT_FAILURE || state === grpc.connectivityState.SHUTDOWN) {
        return reject(failed(`could not connect to ${address}`));
      }
      channel.watchConnectivityState(state, deadline, (err) => {
        if (err) reject(failed(`could not connect to ${address} within ${timeoutMs} ms`));
        else check();
      });
    };
    check();
  });
}

export class AgentConnection {
  private client: AgentServiceClient | undefined;
  /** What the current client was built with: rebuilt when the certificate changes. */
  private clientKey = "";
  private stream: Stream | undefined;
  private stopped = false;
  private seq = 0;
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private statsTimer: NodeJS.Timeout | undefined;
  private renewalTimer: NodeJS.Timeout | undefined;
  private interval: number;
  /** The longest reconnect wait the manager asked for (0: none asked). */
  private managerBackoffMaxMs = 0;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private readonly reconnectLog: ReconnectLog;
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
  /** Interactive console sessions, multiplexed on the current stream. */
  readonly consoles: AgentConsoles;
  /** The managers to dial, the current one first (configured, plus those the managers advertise). */
  readonly managers: ManagerList;

  constructor(private readonly o: AgentConnectionOptions) {
    this.interval = o.heartbeatIntervalMs ?? 10_000;
    this.consoles = new AgentConsoles({ hypervisor: o.hypervisor, log: o.log.child({ component: "console" }) });
    this.reconnectLog = new ReconnectLog(o.log, o.reconnectLogEveryMs ?? 60_000);
    this.connected = new Promise((r) => { this.markConnected = r; });
    this.managers = new ManagerList(typeof o.managerAddress === "string" ? [o.managerAddress] : o.managerAddress);
  }

  start(): void {
    this.unsubscribe = this.o.hypervisor.onDomainEvent((e) => this.sendEvent(e));
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.unsubscribe?.();
    clearInterval(this.heartbeatTimer);
    clearInterval(this.statsTimer);
    clearTimeout(this.renewalTimer);
    clearTimeout(this.reconnectTimer);
    this.consoles.attach(undefined);
    this.stream?.cancel();
    this.wake?.();
    await this.loop;
    this.client?.close();
  }

  /**
   * Fetches an image (its file name in the VM spec) from the manager's store into `dest`, over
   * the client the stream uses (mTLS or the host's secret). Refused before the first registration.
   */
  async fetchImage(path: string, dest: string): Promise<void> {
    if (!this.client) throw new HypervisorError(`image ${path}: not connected to the manager yet`, { retryable: true });
    const info = await fetchImageFile(this.client, this.metadata(), path, dest);
    this.o.log.info({ path, bytes: info.sizeBytes }, "fetched an image from the manager");
  }

  private metadata(id = this.o.identity.load()): grpc.Metadata {
    const md = new grpc.Metadata();
    if (id) {
      md.set("x-orbit-host-id", id.hostId);
      // With mTLS the certificate speaks for the host; the secret stays home.
      if (!this.o.tls) md.set("x-orbit-host-secret", id.hostSecret);
    }
    return md;
  }

  private channelOptions(): grpc.ChannelOptions {
    return this.o.tls?.serverName ? { "grpc.ssl_target_name_override": this.o.tls.serverName } : {};
  }

  private clientFor(key: string, credentials: () => grpc.ChannelCredentials): AgentServiceClient {
    if (this.client && this.clientKey === key) return this.client;
    this.client?.close();
    this.client = new AgentServiceClient(this.managers.current(), credentials(), this.channelOptions());
    this.clientKey = key;
    return this.client;
  }

  private mtlsClient(t: AgentTlsIdentity): AgentServiceClient {
    return this.clientFor(`mtls:${t.certPem}`, () => grpc.credentials.createSsl(Buffer.from(t.caPem), Buffer.from(t.keyPem), Buffer.from(t.certPem)));
  }

  private async register(client: AgentServiceClient, req: { token: string; facts: HostFacts; csrPem?: string }, md: grpc.Metadata): Promise<RegisterResponse> {
    await dial(client, this.managers.current(), DIAL_TIMEOUT_MS);
    return new Promise((resolve, reject) => {
      client.register({ token: req.token, facts: req.facts, csrPem: req.csrPem ?? "" }, md, { deadline: Date.now() + 15_000 }, (err, res) => (err ? reject(err) : resolve(res)));
    });
  }

  /** Registration without mTLS: host secret when known, the join token otherwise. */
  private async registerPlain(facts: HostFacts, known: AgentIdentity | undefined): Promise<{ res: RegisterResponse; client: AgentServiceClient; tls: undefined }> {
    const client = this.clientFor("plain", () => this.o.credentials ?? grpc.credentials.createInsecure());
    try {
      return { res: await this.register(client, { token: known ? "" : (this.o.joinToken ?? ""), facts }, known ? this.metadata(known) : new grpc.Metadata()), client, tls: undefined };
    } catch (e) {
      const err = e as grpc.ServiceError;
      if (!(known && err.code === grpc.status.UNAUTHENTICATED && this.o.joinToken)) throw e;
      // The manager no longer knows this secret (reinstalled?): join again with the token.
      this.o.log.warn("manager refused the stored host identity; registering again with the join token");
      this.o.identity.clear();
      return { res: await this.register(client, { token: this.o.joinToken, facts }, new grpc.Metadata()), client, tls: undefined };
    }
  }

  /**
   * Registration with mTLS: a known host refreshes over its certificate (renewing it when two
   * thirds of its life are gone); a new host, or one whose certificate the manager refuses,
   * enrolls with the join token and a CSR over a channel without a client certificate.
   */
  private async registerTls(tls: AgentTlsOptions, facts: HostFacts, known: AgentIdentity | undefined): Promise<{ res: RegisterResponse; client: AgentServiceClient; tls: AgentTlsIdentity }> {
    if (known?.tls) {
      const client = this.mtlsClient(known.tls);
      const renewKey = certificateNeedsRenewal(known.tls.certPem) ? newHostKeyPem() : undefined;
      try {
        const res = await this.register(client, { token: "", facts, csrPem: renewKey ? await hostCsrPem(renewKey, known.hostUuid) : "" }, this.metadata(known));
        if (renewKey && res.certificatePem) {
          this.o.log.info("renewed the host certificate");
          const renewed = { keyPem: renewKey, certPem: res.certificatePem, caPem: res.caPem || known.tls.caPem };
          return { res, client: this.mtlsClient(renewed), tls: renewed };
        }
        return { res, client, tls: known.tls };
      } catch (e) {
        const err = e as grpc.ServiceError;
        const refused = err.code === grpc.status.UNAUTHENTICATED || err.code === grpc.status.PERMISSION_DENIED;
        if (!refused || !this.o.joinToken) throw e;
        this.o.log.warn({ err: err.details }, "manager refused the host certificate; enrolling again with the join token");
      }
    }
    const keyPem = newHostKeyPem();
    const csrPem = await hostCsrPem(keyPem, facts.hostUuid);
    let trusted = tls.caPem ?? (known?.tls ? Buffer.from(known.tls.caPem) : undefined);
    if (!trusted) {
      this.o.log.warn("no CA configured (tls.ca_file): trusting the CA the manager presents, on first use");
      trusted = Buffer.from(await probeManagerCa(this.managers.current(), { serverName: tls.serverName }));
    }
    // A throwaway channel that verifies the manager: the enrolled one carries the client certificate.
    const boot = new AgentServiceClient(this.managers.current(), grpc.credentials.createSsl(trusted), this.channelOptions());
    let res: RegisterResponse;
    try {
      res = await this.register(boot, { token: this.o.joinToken ?? "", facts, csrPem }, new grpc.Metadata());
    } finally {
      boot.close();
    }
    if (!res.certificatePem || !res.caPem) throw new Error("the manager did not return a certificate: is mTLS enabled on it (ORBIT_GRPC_TLS)?");
    const enrolled = { keyPem, certPem: res.certificatePem, caPem: res.caPem };
    return { res, client: this.mtlsClient(enrolled), tls: enrolled };
  }

  private async session(): Promise<void> {
    const known = this.o.identity.load();
    const facts = await this.o.facts();
    if (known) facts.hostUuid = known.hostUuid;
    const { res, client, tls } = this.o.tls ? await this.registerTls(this.o.tls, facts, known) : await this.registerPlain(facts, known);
    const identity: AgentIdentity = { hostId: res.hostId, hostSecret: res.hostSecret, hostUuid: facts.hostUuid, tls };
    this.o.identity.save(identity);
    this.hostId = res.hostId;
    this.o.onManagerContact?.();
    if (res.settings) this.applySettings(res.settings);
    this.reconnectLog.connected();

    const stream = client.connect(this.metadata(identity));
    this.stream = stream;
    const ended = new Promise<string>((resolve) => {
      stream.on("end", () => resolve("stream ended by manager"));
      stream.on("error", (e: grpc.ServiceError) => resolve(`stream error: ${e.code} ${e.details || e.message}`));
    });
    stream.on("data", (m: ManagerMessage) => this.onMessage(m));
    // Console output does not wait in the send queue behind heartbeats; the stream's own buffer
    // is what a session is measured against (agent-consoles.ts).
    this.consoles.attach({ send: (msg) => { stream.write(msg); return stream.writableLength; } });
    this.o.log.info({ hostId: res.hostId, manager: this.managers.current(), mtls: Boolean(tls) }, "connected to manager");
    // Results that waited while disconnected go first, then a full heartbeat.
    this.enqueue(async () => {
      while (this.outbox.length) stream.write({ body: { $case: "commandResult", value: this.outbox.shift()! } });
    });
    this.heartbeat();
    this.scheduleHeartbeats();
    this.scheduleStats();
    if (tls) this.scheduleRenewal(stream, tls.certPem);
    this.markConnected();
    this.o.observer?.connected();
    const why = await ended;
    this.o.observer?.disconnected();
    clearInterval(this.heartbeatTimer);
    clearInterval(this.statsTimer);
    clearTimeout(this.renewalTimer);
    this.consoles.attach(undefined);
    this.stream = undefined;
    if (!this.stopped) this.o.log.warn({ why, manager: this.managers.current() }, "lost the manager");
  }

  /** The reconnect backoff in force: the manager's cap, when it set one, bounds the agent's own. */
  backoff(): BackoffSettings {
    const own = this.o.backoff ?? DEFAULT_BACKOFF;
    const maxMs = this.managerBackoffMaxMs > 0 ? Math.min(own.maxMs, this.managerBackoffMaxMs) : own.maxMs;
    return { initialMs: Math.min(own.initialMs, maxMs), maxMs };
  }

  private applySettings(s: AgentSettings): void {
    if (s.heartbeatIntervalMs) this.interval = s.heartbeatIntervalMs;
    if (s.reconnectBackoffMaxMs) this.managerBackoffMaxMs = s.reconnectBackoffMaxMs;
    if (s.managerAddresses.length && this.managers.advertise(s.managerAddresses)) {
      this.o.log.info({ managers: this.managers.addresses() }, "managers to fail over to changed");
    }
    this.o.onSettings?.(s);
  }

  private async run(): Promise<void> {
    const random = this.o.random ?? Math.random;
    let failures = 0;
    while (!this.stopped) {
      const began = Date.now();
      let failure: string | undefined;
      try {
        await this.session();
      } catch (e) {
        const err = e as grpc.ServiceError;
        failure = `${err.code ?? ""} ${err.details || err.message}`.trim();
      }
      if (this.stopped) break;
      // A fresh channel for the next attempt: grpc-js would otherwise hold a failed channel in its
      // own reconnect backoff (up to 2 minutes), failing our attempts without dialing.
      this.client?.close();
      this.client = undefined;
      this.clientKey = "";
      failures = Date.now() - began > 30_000 ? 1 : failures + 1;
      // The next attempt goes to the next manager: with another one up, the agent is back within
      // the first backoff step; only a round where all failed makes the waits grow.
      const from = this.managers.current();
      const to = this.managers.next();
      const delay = roundRobinDelayMs(failures, this.managers.size, this.backoff(), random);
      if (to !== from) this.o.log.info({ from, to, retryInMs: delay }, "trying the next manager");
      if (failure !== undefined) this.reconnectLog.failed(failure, delay);
      if (failure !== undefined) this.o.observer?.connectFailed();
      // Not unref'd: this wait is what keeps a disconnected agent alive (simulator driver).
      await new Promise<void>((r) => {
        this.wake = r;
        this.reconnectTimer = setTimeout(r, delay);
      });
    }
  }

  /**
   * Renewal happens at registration; a stream that lives until the certificate is due is closed
   * then, so the reconnect renews it long before it expires.
   */
  private scheduleRenewal(stream: Stream, certPem: string): void {
    clearTimeout(this.renewalTimer);
    const wait = certificateRenewalDue(certPem).getTime() - Date.now();
    // setTimeout holds at most ~24.8 days: wait in steps.
    const step = Math.min(Math.max(wait, 0), 2 ** 31 - 1);
    this.renewalTimer = setTimeout(() => {
      if (this.stream !== stream) return;
      if (certificateNeedsRenewal(certPem)) {
        this.o.log.info("host certificate due for renewal: reconnecting to renew it");
        stream.cancel();
      } else {
        this.scheduleRenewal(stream, certPem);
      }
    }, step);
    this.renewalTimer.unref();
  }

  private scheduleHeartbeats(): void {
    clearInterval(this.heartbeatTimer);
    this.heartbeatTimer = setInterval(() => this.heartbeat(), this.interval);
  }

  private scheduleStats(): void {
    clearInterval(this.statsTimer);
    const every = this.o.statsIntervalMs ?? DEFAULT_STATS_INTERVAL_MS;
    if (every > 0 && this.o.hypervisor.stats) this.statsTimer = setInterval(() => this.sendStats(), every);
  }

  /** The counters of every running VM, sampled together; a failed sample is logged and skipped. */
  private sendStats(): void {
    const stats = this.o.hypervisor.stats;
    if (!stats) return;
    this.enqueue(async () => {
      const stream = this.stream;
      if (!stream) return;
      const sampledAtMs = Date.now();
      const samples = (await stats.domainStats())
        .filter((s) => s.vmUuid !== undefined && s.state?.powerState === PowerState.POWER_STATE_RUNNING)
        .map((s) => ({ vmUuid: s.vmUuid!, stats: toVmStatsMessage(s) }));
      for (let i = 0; i < samples.length; i += STATS_SAMPLES_PER_REPORT) {
        stream.write({ body: { $case: "vmStatsReport", value: { sampledAtMs, samples: samples.slice(i, i + STATS_SAMPLES_PER_REPORT) } } });
      }
    });
  }

  private enqueue(step: () => Promise<void>): void {
    this.sendChain = this.sendChain.then(step).catch((e) => this.o.log.warn({ err: (e as Error).message }, "send failed"));
  }

  private heartbeat(): void {
    this.enqueue(async () => {
      const stream = this.stream;
      if (!stream) return;
      const [domains, free, bootId] = await Promise.all([
        this.o.hypervisor.listDomains(), this.o.hypervisor.freeMemoryMib(), this.o.bootId?.() ?? "",
      ]);
      stream.write({ body: { $case: "heartbeat", value: { seq: ++this.seq, sentAtMs: Date.now(), domains, freeMemoryMib: free, bootId } } });
      this.o.observer?.heartbeatSent();
    });
  }

  /** A running migration's progress sample (best effort: none is sent while the stream is down). */
  sendMigrationProgress(p: MigrationProgress): void {
    this.enqueue(async () => {
      this.stream?.write({ body: { $case: "event", value: { atMs: Date.now(), body: { $case: "migrationProgress", value: p } } } });
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
    // First: a command arriving is the manager reached, which lifts a self-fence before it runs.
    this.o.onManagerContact?.();
    if (b.$case === "command") void this.onCommand(b.value);
    else if (b.$case === "consoleOpen") void this.consoles.onOpen(b.value);
    else if (b.$case === "consoleInput") this.consoles.onInput(b.value);
    else if (b.$case === "consoleClose") this.consoles.onClose(b.value.sessionId);
    else if (b.$case === "settings") {
      const before = this.interval;
      this.applySettings(b.value);
      if (this.interval !== before) {
        this.scheduleHeartbeats();
        this.o.log.info({ heartbeatIntervalMs: this.interval }, "heartbeat interval changed");
      }
    }
  }

  private async onCommand(cmd: Command): Promise<void> {
    const repeat = this.o.executor.knows(cmd.commandId);
    this.o.log.info({ commandId: cmd.commandId, kind: cmd.body?.$case, vm: cmd.vmUuid, repeat }, "command");
    const started = performance.now();
    const result = await this.o.executor.execute(cmd);
    this.o.observer?.commandExecuted(cmd.body?.$case, result.ok, (performance.now() - started) / 1000);
    if (!result.ok) this.o.log.warn({ commandId: cmd.commandId, error: result.error }, "command failed");
    this.enqueue(async () => {
      if (this.stream) this.stream.write({ body: { $case: "commandResult", value: result } });
      else this.outbox.push(result);
    });
  }
}
