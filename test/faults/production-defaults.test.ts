// `orbit-manager` started with nothing configured but its ports and admin key (as a packaged
// install starts): mutual TLS on the agent gateway, no static join token accepted, none printed.
import * as grpc from "@grpc/grpc-js";
import { randomUUID } from "node:crypto";
import { afterAll, describe, expect, it } from "vitest";
import { AgentServiceClient } from "#shared/protocol.js";
import { hostCsrPem, newHostKeyPem } from "../../agent/src/connection/host-key.js";
import { scratchDatabaseUrl } from "../../manager/src/db/database.js";
import { ManagerProcess } from "./processes.js";

describe("orbit-manager production defaults", () => {
  const cleanup: (() => Promise<void>)[] = [];
  afterAll(async () => { for (const c of cleanup.reverse()) await c(); });

  it("serves the agent gateway over TLS only, prints no join token and accepts none", async () => {
    const db = await scratchDatabaseUrl("orbit_fault", { migrated: true });
    cleanup.push(db.drop);
    // An empty value is "not set": the harness's plain-gRPC and static-token conveniences are undone.
    const manager = await ManagerProcess.start({
      ...(db.url ? { databaseUrl: db.url } : {}),
      env: { ORBIT_GRPC_TLS: "", ORBIT_ALLOW_STATIC_JOIN_TOKEN: "", ORBIT_AGENT_TOKEN: "", ORBIT_LOG_LEVEL: "info" },
    });
    cleanup.push(() => manager.stop());
    const out = manager.handle!.output();
    expect(out).not.toMatch(/join token/i);
    expect(out).not.toMatch(/join_[A-Za-z0-9_-]{8,}/);

    const facts = {
      hostUuid: randomUUID(), hostname: "plain", hypervisor: "simulator", cpuModel: "x", cpuArch: "x86_64", sockets: 1,
      coresPerSocket: 2, threadsPerCore: 1, cpus: 2, cpuMhz: 1000, memoryMib: 4096, numaCells: [], hostTags: [], gpus: [],
      agentVersion: "t", hypervisorVersion: "t", environment: "default", cluster: "default", driver: "simulator", discoveryWarnings: [], capabilities: [], migrationUri: "", clusterAddress: "", storageHeartbeatDir: "",
    };
    // Plain gRPC does not reach it (the gateway speaks TLS).
    const plain = new AgentServiceClient(manager.grpcAddress, grpc.credentials.createInsecure());
    const plainErr = await new Promise<grpc.ServiceError | null>((resolve) => {
      plain.register({ token: manager.joinToken, facts, csrPem: "" }, new grpc.Metadata(), { deadline: Date.now() + 5000 }, (e) => resolve(e));
    });
    plain.close();
    expect(plainErr?.code).toBe(grpc.status.UNAVAILABLE);
    // Over TLS (no client certificate yet: a registering host, with its CSR), a static token is refused.
    const csrPem = await hostCsrPem(newHostKeyPem(), facts.hostUuid);
    const tls = new AgentServiceClient(manager.grpcAddress, grpc.credentials.createSsl(null, null, null, { checkServerIdentity: () => undefined, rejectUnauthorized: false }));
    const tlsErr = await new Promise<grpc.ServiceError | null>((resolve) => {
      tls.register({ token: manager.joinToken, facts, csrPem }, new grpc.Metadata(), { deadline: Date.now() + 5000 }, (e) => resolve(e));
    });
    tls.close();
    expect(tlsErr?.code).toBe(grpc.status.UNAUTHENTICATED);
    expect((await manager.api("GET", "/v1/admin/hosts")).json.hosts).toEqual([]);
  }, 120_000);
});
