// The transport's limit, for bench/agents/agents-per-manager.ts: a grpc-js server of Orbit's
// AgentService that does nothing with what it gets. Register answers at once (a fresh id, the
// heartbeat interval asked for); Connect acks each heartbeat the moment it arrives, as the
// manager does after recording it, so orbit-sim measures the same send → ack path minus Orbit.
// Same server options as the manager's gateway (agent-gateway.ts). Prints {"port": N} when listening.
import { randomUUID } from "node:crypto";
import * as grpc from "@grpc/grpc-js";
import { AgentServiceService, type AgentMessage, type AgentServiceServer, type ManagerMessage } from "#shared/protocol.js";
import { MAX_AGENT_MESSAGE_BYTES } from "../../manager/src/agents/protocol-limits.js";

const heartbeatIntervalMs = Number(process.env.BARE_HEARTBEAT_MS ?? 1000);
let messages = 0;
let streams = 0;

const impl: AgentServiceServer = {
  register: (_call, cb) => {
    cb(null, { hostId: randomUUID(), hostSecret: "bare", certificatePem: "", caPem: "", settings: { heartbeatIntervalMs, reconnectBackoffMaxMs: 0, selfFenceAfterMs: 0, storageHeartbeatIntervalMs: 0, managerAddresses: [] } });
  },
  connect: (call: grpc.ServerDuplexStream<AgentMessage, ManagerMessage>) => {
    streams++;
    call.on("data", (m: AgentMessage) => {
      messages++;
      if (m.body?.$case === "heartbeat") call.write({ body: { $case: "ack", value: { seq: m.body.value.seq } } });
    });
    const done = () => { streams--; };
    call.on("end", () => { call.end(); done(); });
    call.on("error", done);
  },
  fetchImage: (call) => { call.emit("error", { code: grpc.status.UNIMPLEMENTED, details: "bare server" }); },
};

const server = new grpc.Server({
  "grpc.keepalive_time_ms": 20_000, "grpc.keepalive_permit_without_calls": 1, "grpc.enable_channelz": 0, "grpc.max_receive_message_length": MAX_AGENT_MESSAGE_BYTES,
});
server.addService(AgentServiceService, impl);
const port = await new Promise<number>((resolve, reject) => {
  server.bindAsync(`127.0.0.1:${process.env.BARE_PORT ?? 0}`, grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p)));
});
process.stdout.write(JSON.stringify({ port }) + "\n");
setInterval(() => process.stderr.write(JSON.stringify({ streams, messages }) + "\n"), 10_000).unref();
process.on("SIGTERM", () => { server.forceShutdown(); process.exit(0); });
