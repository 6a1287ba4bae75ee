// The gRPC server agents dial: registration, then one bidirectional stream per host.
import * as grpc from "@grpc/grpc-js";
import type { Logger } from "pino";
import { InvalidArgumentError, OrbitError, UnauthenticatedError } from "#shared/errors.js";
import {
  AgentServiceService, type AgentMessage, type AgentServiceServer, type CommandResult, type DomainEvent,
  type Heartbeat, type ManagerMessage, type RegisterRequest, type RegisterResponse,
} from "#shared/protocol.js";
import { safeEqual } from "#shared/secrets.js";
import type { HostService } from "../hosts/host-service.js";
import type { AgentSessions } from "./agent-sessions.js";
import { toServiceError } from "./grpc-errors.js";

export interface HostStreamHandler {
  onConnected(hostId: number): Promise<void>;
  onHeartbeat(hostId: number, hb: Heartbeat): Promise<void>;
  onDomainEvent(hostId: number, e: DomainEvent): Promise<void>;
  /** A result nobody waited for (answered after a reconnect, or after its waiter gave up). */
  onLateResult(hostId: number, r: CommandResult): Promise<void>;
  onDisconnected(hostId: number): Promise<void>;
}

export interface AgentGatewayOptions {
  hosts: HostService;
  sessions: AgentSessions;
  handler: HostStreamHandler;
  log: Logger;
  /** Join tokens accepted at registration. */
  joinTokenValid: (token: string) => boolean;
  heartbeatIntervalMs: () => number;
}

function metaString(md: grpc.Metadata, key: string): string {
  const v = md.get(key)[0];
  return typeof v === "string" ? v : "";
}

export class AgentGateway {
  private server: grpc.Server | undefined;
  private readonly streams = new Set<grpc.ServerDuplexStream<AgentMessage, ManagerMessage>>();

  constructor(private readonly o: AgentGatewayOptions) {}

  async listen(host: string, port: number, credentials = grpc.ServerCredentials.createInsecure()): Promise<number> {
    const server = new grpc.Server({ "grpc.keepalive_time_ms": 20_000, "grpc.keepalive_permit_without_calls": 1 });
    const impl: AgentServiceServer = {
      register: (call, cb) => {
        this.register(call.request, call.metadata).then((r) => cb(null, r), (e) => {
          this.o.log.warn({ err: e instanceof OrbitError ? e.message : e, peer: call.getPeer() }, "agent registration refused");
          cb(toServiceError(e));
        });
      },
      connect: (call) => { void this.connect(call); },
    };
    server.addService(AgentServiceService, impl);
    const bound = await new Promise<number>((resolve, reject) => {
      server.bindAsync(`${host}:${port}`, credentials, (err, p) => (err ? reject(err) : resolve(p)));
    });
    this.server = server;
    return bound;
  }

  private async register(req: RegisterRequest, md: grpc.Metadata): Promise<RegisterResponse> {
    const hostId = metaString(md, "x-orbit-host-id");
    if (hostId) {
      // A known host refreshing its facts proves itself with its secret; the facts must be its own.
      const h = await this.o.hosts.authenticate(hostId, metaString(md, "x-orbit-host-secret"));
      if (req.facts && req.facts.hostUuid.toLowerCase() !== h.uuid) {
        throw new InvalidArgumentError("facts.host_uuid", "a host cannot register facts for another host id");
      }
    } else if (!req.token || !this.o.joinTokenValid(req.token)) {
      throw new UnauthenticatedError("invalid join token");
    }
    const reg = await this.o.hosts.register(req.facts);
    this.o.log.info({ hostId: reg.id, uuid: reg.uuid, name: req.facts?.hostname }, "host registered");
    return {
      hostId: reg.uuid, hostSecret: reg.secret, certificatePem: "", caPem: "",
      settings: { heartbeatIntervalMs: this.o.heartbeatIntervalMs() },
    };
  }

  private async connect(call: grpc.ServerDuplexStream<AgentMessage, ManagerMessage>): Promise<void> {
    let host: { id: number; uuid: string; name: string };
    try {
      host = await this.o.hosts.authenticate(metaString(call.metadata, "x-orbit-host-id"), metaString(call.metadata, "x-orbit-host-secret"));
    } catch (e) {
      this.o.log.warn({ peer: call.getPeer() }, "agent stream refused: unknown host or bad secret");
      call.emit("error", toServiceError(e));
      return;
    }
    this.streams.add(call);
    const log = this.o.log.child({ hostId: host.id, host: host.name });
    const sessionId = this.o.sessions.open(host.id, {
      write: (m) => { call.write(m); },
      end: () => { call.end(); },
    });
    log.info("agent connected");
    // Messages are handled one at a time so a heartbeat never races the result before it.
    let chain: Promise<void> = this.o.handler.onConnected(host.id).catch((e) => log.error({ err: e }, "onConnected failed"));
    const handle = async (msg: AgentMessage): Promise<void> => {
      const b = msg.body;
      if (!b) throw new InvalidArgumentError("body", "empty agent message");
      switch (b.$case) {
        case "heartbeat":
          await this.o.handler.onHeartbeat(host.id, b.value);
          this.o.sessions.send(host.id, { body: { $case: "ack", value: { seq: b.value.seq } } });
          return;
        case "commandResult":
          if (!this.o.sessions.resolve(host.id, b.value)) await this.o.handler.onLateResult(host.id, b.value);
          return;
        case "event":
          if (b.value.body?.$case === "domain") await this.o.handler.onDomainEvent(host.id, b.value.body.value);
          return;
      }
    };
    call.on("data", (msg: AgentMessage) => {
      chain = chain.then(() => handle(msg)).catch((e) => {
        log.warn({ err: e instanceof Error ? e.message : e }, "bad agent message");
      });
    });
    const finish = (why: string) => {
      this.streams.delete(call);
      if (this.o.sessions.close(host.id, sessionId, why)) {
        log.info({ why }, "agent disconnected");
        chain = chain.then(() => this.o.handler.onDisconnected(host.id)).catch((e) => log.error({ err: e }, "onDisconnected failed"));
      }
    };
    call.on("end", () => finish("stream ended"));
    call.on("error", (e) => finish(`stream error: ${e.message}`));
    call.on("cancelled", () => finish("cancelled"));
  }

  async close(): Promise<void> {
    this.o.sessions.closeAll();
    const server = this.server;
    if (!server) return;
    for (const s of this.streams) s.end();
    await new Promise<void>((resolve) => {
      const t = setTimeout(() => { server.forceShutdown(); resolve(); }, 2000);
      server.tryShutdown(() => { clearTimeout(t); resolve(); });
    });
  }
}

export function tokenMatcher(tokens: () => string[]): (token: string) => boolean {
  return (token) => tokens().some((t) => safeEqual(t, token));
}
