// The gRPC server agents dial: registration, then one bidirectional stream per host.
import * as grpc from "@grpc/grpc-js";
import type { Logger } from "pino";
import { ForbiddenError, InvalidArgumentError, OrbitError, UnauthenticatedError } from "#shared/errors.js";
import {
  AgentServiceService, type AgentMessage, type AgentSettings, type AgentServiceServer, type CommandResult, type ConsoleClosed, type ConsoleOutput, type DomainEvent,
  type FetchImageRequest, type Heartbeat, type ImageChunk, type ManagerMessage, type MigrationProgress, type RegisterRequest, type RegisterResponse, type VmStatsReport,
} from "#shared/protocol.js";
import { NotFoundError } from "#shared/errors.js";
import type { ImageFiles } from "../catalog/image-files.js";
import { safeEqual } from "#shared/secrets.js";
import type { HostService } from "../hosts/host-service.js";
import type { HostCertificateService } from "../security/host-certificate-service.js";
import type { Enrolled, HostEnrollment } from "../security/host-enrollment.js";
import type { AgentSessions } from "./agent-sessions.js";
import { toServiceError } from "./grpc-errors.js";
import { MAX_AGENT_MESSAGE_BYTES, checkAgentMessageBounds, checkRegisterBounds } from "./protocol-limits.js";
import { StreamInbox, type InboxObserver } from "./stream-inbox.js";

/** Messages other than heartbeats a stream may have waiting before it is paused (stream-inbox.ts), and where it resumes. */
export const STREAM_INBOX_MAX = 256;
export const STREAM_INBOX_RESUME_AT = 64;

export interface HostStreamHandler {
  onConnected(hostId: number): Promise<void>;
  onHeartbeat(hostId: number, hb: Heartbeat): Promise<void>;
  onDomainEvent(hostId: number, e: DomainEvent): Promise<void>;
  /** A result nobody waited for (answered after a reconnect, or after its waiter gave up). */
  onLateResult(hostId: number, r: CommandResult): Promise<void>;
  onDisconnected(hostId: number): Promise<void>;
}

/** The console sessions relayed over agent streams (console/console-relay.ts). */
export interface ConsoleStreamHandler {
  output(hostId: number, m: ConsoleOutput): void;
  closedByAgent(hostId: number, m: ConsoleClosed): void;
  hostGone(hostId: number): void;
}

export interface AgentGatewayOptions {
  hosts: HostService;
  enrollment: HostEnrollment;
  certificates: HostCertificateService;
  /**
   * Mutual TLS is on: Connect, and Register by a known host, need a client certificate signed by
   * the manager's CA for the host the call speaks for; host secrets are not accepted then.
   */
  requireClientCertificate: boolean;
  sessions: AgentSessions;
  handler: HostStreamHandler;
  log: Logger;
  /** What agents are told at registration: heartbeat interval and reconnect cap (hosts/host-liveness.ts decides both). */
  /** What agents are told at registration: the liveness rule and HA's self-fencing (hosts/host-liveness.ts, ha/). */
  agentSettings: () => AgentSettings;
  /** How often open streams are checked against revocations made elsewhere (other managers). */
  revocationCheckMs?: number;
  /** Where the VMs' counter reports go (VM metrics); without it they are dropped. */
  onVmStats?: (hostId: number, report: VmStatsReport) => Promise<unknown>;
  /** Where a running migration's progress samples go (migration/migration-progress.ts); without it they are dropped. */
  onMigrationProgress?: (hostId: number, p: MigrationProgress) => Promise<unknown>;
  /** Where console output goes; without it console messages are dropped. */
  consoles?: ConsoleStreamHandler;
  /** Told about errors; returns true when it was the database being unavailable (logged once per outage there). */
  onDatabaseUnavailable?: (e: unknown) => boolean;
  /** The image store FetchImage reads (without it, every image is NOT_FOUND). */
  images?: ImageFiles;
  /** Told of every command result a host sends (vm/reconcile-on-change.ts: its next heartbeats are reconciled). */
  onCommandResult?: (hostId: number) => void;
  /** Each stream's inbound bound (default STREAM_INBOX_MAX / STREAM_INBOX_RESUME_AT). */
  inbox?: { maxQueued: number; resumeAt: number };
  /** Told about coalesced heartbeats and paused streams (monitoring). */
  inboxObserver?: InboxObserver;
}

type AgentStream = grpc.ServerDuplexStream<AgentMessage, ManagerMessage>;
type AuthContextCall = { getAuthContext?: () => { sslPeerCertificate?: { raw?: Buffer } } | null };

function metaString(md: grpc.Metadata, key: string): string {
  const v = md.get(key)[0];
  return typeof v === "string" ? v : "";
}

/**
 * The client certificate TLS verified against our CA, as DER. grpc-js reports a peer certificate
 * only when the handshake authorized it, so a certificate from another CA reads as none.
 */
function verifiedPeerCertificate(call: AuthContextCall): Buffer | undefined {
  const raw = call.getAuthContext?.()?.sslPeerCertificate?.raw;
  return raw && raw.length ? raw : undefined;
}

export class AgentGateway {
  private server: grpc.Server | undefined;
  /** Open streams, with the serial of the certificate each was opened with (mTLS only). */
  private readonly streams = new Map<AgentStream, { hostId: number; serial: string | undefined }>();
  private revocationTimer: NodeJS.Timeout | undefined;

  constructor(private readonly o: AgentGatewayOptions) {}

  /** Logs an error unless it was the database being away (then the outage is logged once elsewhere). */
  private logFailure(log: Logger, e: unknown, fields: Record<string, unknown>, msg: string, level: "warn" | "error" = "warn"): void {
    if (this.o.onDatabaseUnavailable?.(e)) return;
    log[level]({ ...fields, err: e instanceof OrbitError ? e.message : e }, msg);
  }

  async listen(host: string, port: number, credentials = grpc.ServerCredentials.createInsecure()): Promise<number> {
    const server = new grpc.Server({
      "grpc.keepalive_time_ms": 20_000, "grpc.keepalive_permit_without_calls": 1,
      // No channelz (nothing here serves it): it costs per connection (a registered socket, call
      // trackers) and per message (counters, a clock read) with 10,000 agents' streams.
      "grpc.enable_channelz": 0,
      // Larger messages are refused with RESOURCE_EXHAUSTED before they are decoded.
      "grpc.max_receive_message_length": MAX_AGENT_MESSAGE_BYTES,
    });
    const impl: AgentServiceServer = {
      register: (call, cb) => {
        this.register(call.request, call.metadata, verifiedPeerCertificate(call)).then((r) => cb(null, r), (e) => {
          this.logFailure(this.o.log, e, { peer: call.getPeer() }, "agent registration refused");
          cb(toServiceError(e));
        });
      },
      connect: (call) => { void this.connect(call); },
      fetchImage: (call) => { void this.fetchImage(call); },
    };
    server.addService(AgentServiceService, impl);
    const bound = await new Promise<number>((resolve, reject) => {
      server.bindAsync(`${host}:${port}`, credentials, (err, p) => (err ? reject(err) : resolve(p)));
    });
    this.server = server;
    if (this.o.requireClientCertificate) {
      this.revocationTimer = setInterval(() => { void this.dropRevokedStreams(); }, this.o.revocationCheckMs ?? 5000);
      this.revocationTimer.unref();
    }
    return bound;
  }

  /** Ends, with UNAUTHENTICATED, the open streams opened with one of these certificates. */
  /** A host's credentials were revoked: its revoked certificates' streams and its session are dropped. */
  credentialsRevoked(hostId: number, serials: string[]): void {
    this.dropCertificates(serials);
    this.o.sessions.disconnect(hostId, "host credentials revoked");
  }

  dropCertificates(serials: string[], why = "the client certificate has been revoked"): number {
    let dropped = 0;
    for (const [call, s] of this.streams) {
      if (s.serial && serials.includes(s.serial)) {
        this.o.log.warn({ hostId: s.hostId, serial: s.serial }, `dropping agent stream: ${why}`);
        call.emit("error", toServiceError(new UnauthenticatedError(why)));
        dropped++;
      }
    }
    return dropped;
  }

  private async dropRevokedStreams(): Promise<void> {
    const open = [...this.streams.values()].map((s) => s.serial).filter((s): s is string => Boolean(s));
    try {
      const revoked = await this.o.certificates.revokedAmong(open);
      if (revoked.length) this.dropCertificates(revoked);
    } catch (e) {
      this.logFailure(this.o.log, e, {}, "revocation check failed", "error");
    }
  }

  /** The host a call speaks for, from its client certificate; a claimed host id must agree. */
  private async certifiedHost(peer: Buffer | undefined, md: grpc.Metadata): Promise<{ id: number; uuid: string; name: string; serial: string }> {
    if (!peer) throw new UnauthenticatedError("a client certificate signed by this manager's CA is required");
    const host = await this.o.certificates.authenticate(peer);
    const claimed = metaString(md, "x-orbit-host-id").toLowerCase();
    if (claimed && claimed !== host.uuid) {
      throw new ForbiddenError(`the client certificate is for host ${host.uuid}; it cannot speak for host ${claimed}`);
    }
    return host;
  }

  private async register(req: RegisterRequest, md: grpc.Metadata, peer: Buffer | undefined): Promise<RegisterResponse> {
    checkRegisterBounds(req);
    const hostId = metaString(md, "x-orbit-host-id");
    let reg: Enrolled;
    if (peer) {
      // A known host on mTLS: its certificate says who it is (and a CSR renews the certificate).
      const h = await this.certifiedHost(peer, md);
      reg = await this.o.enrollment.refresh(h, req.facts, req.csrPem);
    } else if (hostId && !this.o.requireClientCertificate) {
      // Without mTLS a known host proves itself with its secret; the facts must be its own.
      const h = await this.o.hosts.authenticate(hostId, metaString(md, "x-orbit-host-secret"));
      reg = await this.o.enrollment.refresh(h, req.facts, req.csrPem);
    } else if (hostId && !req.token) {
      throw new UnauthenticatedError("a client certificate signed by this manager's CA is required");
    } else {
      reg = await this.o.enrollment.enrollWithToken(req.token, req.facts, req.csrPem);
    }
    this.o.log.info({ hostId: reg.id, uuid: reg.uuid, name: req.facts?.hostname, certificate: Boolean(reg.certificatePem) }, "host registered");
    return {
      hostId: reg.uuid, hostSecret: reg.secret, certificatePem: reg.certificatePem, caPem: reg.caPem,
      settings: this.o.agentSettings(),
    };
  }

  /** The host a call speaks for: its client certificate with mTLS, else its id and secret. */
  private async callerHost(call: { metadata: grpc.Metadata } & AuthContextCall): Promise<{ id: number; uuid: string; name: string; serial?: string | undefined }> {
    if (this.o.requireClientCertificate) return this.certifiedHost(verifiedPeerCertificate(call), call.metadata);
    return this.o.hosts.authenticate(metaString(call.metadata, "x-orbit-host-id"), metaString(call.metadata, "x-orbit-host-secret"));
  }

  /** Streams a Ready image's file to an authenticated host: its info first, then its bytes. */
  private async fetchImage(call: grpc.ServerWritableStream<FetchImageRequest, ImageChunk>): Promise<void> {
    let hostId: number | undefined;
    try {
      hostId = (await this.callerHost(call)).id;
      const file = await this.o.images?.open(call.request.path);
      if (!file) throw new NotFoundError("image", call.request.path, `no Ready image is stored as "${call.request.path}"`);
      call.write({ body: { $case: "info", value: { sizeBytes: file.sizeBytes, sha256: file.sha256, format: file.format } } });
      for await (const chunk of file.stream) {
        if (call.cancelled) { file.stream.destroy(); return; }
        if (!call.write({ body: { $case: "data", value: chunk as Buffer } })) await new Promise((r) => call.once("drain", r));
      }
      call.end();
    } catch (e) {
      this.logFailure(this.o.log, e, { peer: call.getPeer(), hostId, path: call.request.path }, "image fetch refused");
      call.emit("error", toServiceError(e));
    }
  }

  private async connect(call: grpc.ServerDuplexStream<AgentMessage, ManagerMessage>): Promise<void> {
    let host: { id: number; uuid: string; name: string };
    let serial: string | undefined;
    try {
      const h = await this.callerHost(call);
      host = h;
      serial = h.serial;
    } catch (e) {
      this.logFailure(this.o.log, e, { peer: call.getPeer() }, "agent stream refused");
      call.emit("error", toServiceError(e));
      return;
    }
    // The agent may have gone while we authenticated it: no session for a dead stream.
    if (call.cancelled || call.destroyed) return;
    this.streams.set(call, { hostId: host.id, serial });
    const log = this.o.log.child({ hostId: host.id, host: host.name });
    const sessionId = this.o.sessions.open(host.id, {
      write: (m) => { call.write(m); },
      end: () => { call.end(); },
      buffered: () => call.writableLength,
    });
    log.info("agent connected");
    // Messages are handled one at a time so a heartbeat never races the result before it; what
    // waits is bounded (stream-inbox.ts): heartbeats coalesce to the newest, other messages pause the stream.
    const inbox: StreamInbox<AgentMessage> = new StreamInbox<AgentMessage>({
      isHeartbeat: (m) => m.body?.$case === "heartbeat",
      handle: (m) => handle(m),
      failed: (e) => this.logFailure(log, e, {}, "bad agent message"),
      pause: () => { log.warn({ waiting: inbox.size() }, "agent stream paused: too many messages waiting to be handled"); call.pause(); },
      resume: () => { log.info("agent stream resumed"); call.resume(); },
      maxQueued: this.o.inbox?.maxQueued ?? STREAM_INBOX_MAX,
      resumeAt: this.o.inbox?.resumeAt ?? STREAM_INBOX_RESUME_AT,
      ...(this.o.inboxObserver ? { observer: this.o.inboxObserver } : {}),
    });
    inbox.then(() => this.o.handler.onConnected(host.id).catch((e) => this.logFailure(log, e, {}, "onConnected failed", "error")));
    const handle = async (msg: AgentMessage): Promise<void> => {
      const b = msg.body;
      if (!b) throw new InvalidArgumentError("body", "empty agent message");
      switch (b.$case) {
        case "heartbeat":
          await this.o.handler.onHeartbeat(host.id, b.value);
          this.o.sessions.send(host.id, { body: { $case: "ack", value: { seq: b.value.seq } } });
          return;
        case "commandResult":
          this.o.onCommandResult?.(host.id);
          if (!this.o.sessions.resolve(host.id, b.value)) await this.o.handler.onLateResult(host.id, b.value);
          return;
        case "event":
          if (b.value.body?.$case === "domain") await this.o.handler.onDomainEvent(host.id, b.value.body.value);
          if (b.value.body?.$case === "migrationProgress") await this.o.onMigrationProgress?.(host.id, b.value.body.value);
          return;
        case "vmStatsReport":
          await this.o.onVmStats?.(host.id, b.value);
          return;
        case "consoleOutput":
        case "consoleClosed":
          return;
      }
    };
    call.on("data", (msg: AgentMessage) => {
      try {
        checkAgentMessageBounds(msg);
      } catch (e) {
        // An agent that sends this will send it again: end the stream with the reason.
        log.warn({ err: (e as Error).message }, "agent message over the protocol's limits; stream ended");
        call.emit("error", toServiceError(e));
        return;
      }
      // Console bytes go straight through: they touch no database and must not wait behind heartbeats.
      if (msg.body?.$case === "consoleOutput") { this.o.consoles?.output(host.id, msg.body.value); return; }
      if (msg.body?.$case === "consoleClosed") { this.o.consoles?.closedByAgent(host.id, msg.body.value); return; }
      inbox.push(msg);
    });
    const finish = (why: string) => {
      this.streams.delete(call);
      if (this.o.sessions.close(host.id, sessionId, why)) {
        log.info({ why }, "agent disconnected");
        this.o.consoles?.hostGone(host.id);
        inbox.then(() => this.o.handler.onDisconnected(host.id).catch((e) => this.logFailure(log, e, {}, "onDisconnected failed", "error")));
      }
    };
    call.on("end", () => finish("stream ended"));
    call.on("error", (e) => finish(`stream error: ${e.message}`));
    call.on("cancelled", () => finish("cancelled"));
  }

  async close(): Promise<void> {
    clearInterval(this.revocationTimer);
    this.o.sessions.closeAll();
    const server = this.server;
    if (!server) return;
    for (const s of this.streams.keys()) s.end();
    await new Promise<void>((resolve) => {
      const t = setTimeout(() => { server.forceShutdown(); resolve(); }, 2000);
      server.tryShutdown(() => { clearTimeout(t); resolve(); });
    });
  }
}

export function tokenMatcher(tokens: () => string[]): (token: string) => boolean {
  return (token) => tokens().some((t) => safeEqual(t, token));
}
