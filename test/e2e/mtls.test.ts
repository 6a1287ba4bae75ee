// Agent enrollment and mutual TLS over real gRPC on loopback: one-time registration tokens, the
// CA's certificates, a host that cannot speak for another, revocation, foreign CAs.
import * as grpc from "@grpc/grpc-js";
import { X509Certificate, randomUUID } from "node:crypto";
import pino from "pino";
import { eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AgentServiceClient, type HostFacts, type RegisterResponse } from "#shared/protocol.js";
import { OrbitAgent } from "../../agent/src/agent.js";
import { hostCsrPem, newHostKeyPem } from "../../agent/src/connection/host-key.js";
import { MemoryIdentityStore } from "../../agent/src/connection/identity-store.js";
import { SimulatorHypervisor } from "../../agent/src/drivers/simulator/simulator-hypervisor.js";
import { StaticGpuInventory } from "../../agent/src/gpu/gpu-inventory.js";
import { hostCertificates, registrationTokens } from "../../manager/src/db/schema.js";
import { CertificateAuthority } from "../../manager/src/security/certificate-authority.js";
import { startTestCloud, type TestCloud } from "./harness.js";

const FLEET_HOST = { hostname: "mtls-fleet", uuid: "c0000000-0000-4000-8000-0000000000f1", cpus: 8, memoryMib: 16384 };

let cloud: TestCloud;
let caPem: Buffer;
const clients: grpc.Client[] = [];
const agents: OrbitAgent[] = [];

beforeAll(async () => {
  cloud = await startTestCloud({ hosts: [FLEET_HOST], env: { ORBIT_GRPC_TLS: "true" } });
  caPem = Buffer.from(cloud.manager.caPem);
}, 120_000);
afterAll(async () => {
  for (const c of clients) c.close();
  await Promise.all(agents.map((a) => a.stop()));
  await cloud?.stop();
});

function facts(uuid: string = randomUUID(), over: Partial<HostFacts> = {}): HostFacts {
  return {
    hostUuid: uuid, hostname: `h-${uuid.slice(0, 8)}`, hypervisor: "simulator", cpuModel: "x", cpuArch: "x86_64",
    sockets: 1, coresPerSocket: 4, threadsPerCore: 1, cpus: 4, cpuMhz: 1000, memoryMib: 4096, numaCells: [],
    hostTags: [], gpus: [], agentVersion: "test", hypervisorVersion: "test", environment: "default", cluster: "default",
    driver: "simulator", discoveryWarnings: [], capabilities: [], migrationUri: "", clusterAddress: "", storageHeartbeatDir: "", ...over,
  };
}

/** A TLS channel that verifies the manager, with a client certificate when given one. */
function client(identity?: { keyPem: string; certPem: string }): AgentServiceClient {
  const c = new AgentServiceClient(cloud.manager.grpcAddress, identity
    ? grpc.credentials.createSsl(caPem, Buffer.from(identity.keyPem), Buffer.from(identity.certPem))
    : grpc.credentials.createSsl(caPem));
  clients.push(c);
  return c;
}

function register(c: AgentServiceClient, req: { token: string; facts: HostFacts; csrPem: string }, md = new grpc.Metadata()): Promise<RegisterResponse> {
  return new Promise((resolve, reject) => c.register(req, md, (e, r) => (e ? reject(e) : resolve(r))));
}

/** Opens Connect and reports how it went: refused with a status, or answered (an ack to a heartbeat). */
function openStream(c: AgentServiceClient, md = new grpc.Metadata()): Promise<{ code: number; details: string } | "answered"> {
  const stream = c.connect(md);
  return new Promise((resolve) => {
    stream.on("error", (e: grpc.ServiceError) => resolve({ code: e.code, details: e.details }));
    stream.on("data", () => { resolve("answered"); stream.cancel(); });
    stream.write({ body: { $case: "heartbeat", value: { seq: 1, sentAtMs: Date.now(), domains: [], freeMemoryMib: 1024, bootId: "" } } });
  });
}

function claim(hostId: string): grpc.Metadata {
  const md = new grpc.Metadata();
  md.set("x-orbit-host-id", hostId);
  return md;
}

async function newToken(body: Record<string, unknown> = {}): Promise<{ token: string; id: number }> {
  const r = await cloud.api("POST", "/v1/admin/registration-tokens", body);
  expect(r.status).toBe(201);
  return { token: r.json.token, id: r.json.registration_token.id };
}

/** Enrolls a host directly (token + CSR), as an agent's first contact does. */
async function enroll(token: string, uuid: string = randomUUID()): Promise<{ uuid: string; keyPem: string; certPem: string; res: RegisterResponse }> {
  const keyPem = newHostKeyPem();
  const res = await register(client(), { token, facts: facts(uuid), csrPem: await hostCsrPem(keyPem, uuid) });
  return { uuid, keyPem, certPem: res.certificatePem, res };
}

async function adminHost(uuid: string): Promise<Record<string, any> | undefined> {
  return (await cloud.api("GET", "/v1/admin/hosts")).json.hosts.find((h: any) => h.uuid === uuid);
}

function startAgent(uuid: string, hostname: string, joinToken: string, tls: { caPem?: Buffer } = { caPem }): OrbitAgent {
  const agent = new OrbitAgent({
    managerAddress: cloud.manager.grpcAddress,
    joinToken,
    identity: new MemoryIdentityStore(),
    hypervisor: new SimulatorHypervisor({ hostUuid: uuid, hostname, cpus: 4, memoryMib: 8192, numaCells: 1, startDelayMs: 10 }),
    gpus: new StaticGpuInventory([]),
    host: { tags: [], environment: "default", cluster: "default" },
    log: pino({ level: process.env.ORBIT_TEST_LOG ?? "silent" }),
    heartbeatIntervalMs: 300,
    backoff: { initialMs: 100, maxMs: 1000 },
    tls,
  });
  agents.push(agent);
  agent.start();
  return agent;
}

describe("agent mTLS", () => {
  it("keeps the simulated fleet working over mTLS with the static cluster token", async () => {
    const h = await cloud.waitFor("fleet host Up", async () => (await adminHost(FLEET_HOST.uuid))?.state === "Up");
    expect(h).toBe(true);
  });

  it("enrolls a host with a one-time token; its agent then connects with its certificate and the host is Up", async () => {
    const { token, id } = await newToken({ note: "rack 7", expires_in_seconds: 600 });
    expect(token).toMatch(/^ort_/);
    const uuid = randomUUID();
    const identity = new MemoryIdentityStore();
    const agent = new OrbitAgent({
      managerAddress: cloud.manager.grpcAddress, joinToken: token, identity,
      hypervisor: new SimulatorHypervisor({ hostUuid: uuid, hostname: "mtls-new", cpus: 4, memoryMib: 8192, numaCells: 1, startDelayMs: 10 }),
      gpus: new StaticGpuInventory([]), host: { tags: [], environment: "default", cluster: "default" },
      log: pino({ level: process.env.ORBIT_TEST_LOG ?? "silent" }), heartbeatIntervalMs: 300, tls: { caPem },
    });
    agents.push(agent);
    agent.start();
    await agent.connection.connected;
    await cloud.waitFor("new host Up", async () => (await adminHost(uuid))?.state === "Up");

    const stored = identity.load()!;
    const cert = new X509Certificate(stored.tls!.certPem);
    expect(cert.subject).toContain(`CN=${uuid}`);
    expect(cert.subjectAltName).toBe(`URI:orbit:host:${uuid}`);
    expect(cert.verify(new X509Certificate(caPem).publicKey)).toBe(true);
    const days = (new Date(cert.validTo).getTime() - new Date(cert.validFrom).getTime()) / 86_400_000;
    expect(Math.round(days)).toBe(90);

    const list = (await cloud.api("GET", "/v1/admin/registration-tokens")).json.registration_tokens;
    const row = list.find((t: any) => t.id === id);
    const host = await adminHost(uuid);
    expect(row).toMatchObject({ state: "used", note: "rack 7", used_by_host_id: host!.id });
    expect(JSON.stringify(list)).not.toContain(token);
    const certs = (await cloud.api("GET", `/v1/admin/hosts/${host!.id}/certificates`)).json.certificates;
    expect(certs).toHaveLength(1);
    expect(certs[0].serial).toBe(cert.serialNumber.toLowerCase());

    // A restart of the agent (same stored identity) refreshes over the certificate: no token needed.
    await agent.stop();
    const again = new OrbitAgent({
      managerAddress: cloud.manager.grpcAddress, joinToken: undefined, identity,
      hypervisor: new SimulatorHypervisor({ hostUuid: uuid, hostname: "mtls-new", cpus: 4, memoryMib: 8192, numaCells: 1, startDelayMs: 10 }),
      gpus: new StaticGpuInventory([]), host: { tags: [], environment: "default", cluster: "default" },
      log: pino({ level: process.env.ORBIT_TEST_LOG ?? "silent" }), heartbeatIntervalMs: 300, tls: { caPem },
    });
    agents.push(again);
    again.start();
    await again.connection.connected;
    expect(again.connection.hostId).toBe(uuid);
    expect(identity.load()!.tls!.certPem).toBe(stored.tls!.certPem);
  });

  it("refuses a token used once already, saying so", async () => {
    const { token } = await newToken();
    await enroll(token);
    const keyPem = newHostKeyPem();
    const uuid = randomUUID();
    await expect(register(client(), { token, facts: facts(uuid), csrPem: await hostCsrPem(keyPem, uuid) }))
      .rejects.toMatchObject({ code: grpc.status.UNAUTHENTICATED, details: "registration token already used" });
    expect(await adminHost(uuid)).toBeUndefined();
  });

  it("refuses an expired token and a revoked token, saying which", async () => {
    const expired = await newToken();
    await cloud.manager.database.db.update(registrationTokens).set({ expiresAt: new Date(Date.now() - 1000) }).where(eq(registrationTokens.id, expired.id));
    await expect(enroll(expired.token)).rejects.toMatchObject({ code: grpc.status.UNAUTHENTICATED, details: "registration token expired" });
    const revoked = await newToken();
    expect((await cloud.api("DELETE", `/v1/admin/registration-tokens/${revoked.id}`)).json.registration_token.state).toBe("revoked");
    await expect(enroll(revoked.token)).rejects.toMatchObject({ code: grpc.status.UNAUTHENTICATED, details: "registration token revoked" });
    await expect(enroll("ort_never-issued-0123456789")).rejects.toMatchObject({ code: grpc.status.UNAUTHENTICATED, details: "invalid join token" });
    const states = (await cloud.api("GET", "/v1/admin/registration-tokens")).json.registration_tokens;
    expect(states.find((t: any) => t.id === expired.id).state).toBe("expired");
  });

  it("does not spend a token on a refused registration (bad facts, missing or broken CSR)", async () => {
    const { token } = await newToken();
    const uuid = randomUUID();
    const csrPem = await hostCsrPem(newHostKeyPem(), uuid);
    await expect(register(client(), { token, facts: facts(uuid, { cpus: 0 }), csrPem })).rejects.toMatchObject({ code: grpc.status.INVALID_ARGUMENT });
    await expect(register(client(), { token, facts: facts(uuid), csrPem: "" })).rejects.toMatchObject({
      code: grpc.status.INVALID_ARGUMENT, details: expect.stringContaining("CSR"),
    });
    await expect(register(client(), { token, facts: facts(uuid), csrPem: "garbage" })).rejects.toMatchObject({ code: grpc.status.INVALID_ARGUMENT });
    const ok = await register(client(), { token, facts: facts(uuid), csrPem });
    expect(ok.hostId).toBe(uuid);
    expect(ok.caPem).toBe(cloud.manager.caPem);
  });

  it("does not let a host speak for another host id", async () => {
    const a = await enroll((await newToken()).token);
    const b = await enroll((await newToken()).token);
    const asA = client(a);
    // Its own stream works...
    expect(await openStream(asA, claim(a.uuid))).toBe("answered");
    // ...another host's does not, whether it claims it in metadata or in registered facts.
    expect(await openStream(asA, claim(b.uuid))).toMatchObject({ code: grpc.status.PERMISSION_DENIED, details: expect.stringContaining(b.uuid) });
    await expect(register(asA, { token: "", facts: facts(b.uuid), csrPem: "" }, claim(b.uuid))).rejects.toMatchObject({ code: grpc.status.PERMISSION_DENIED });
    await expect(register(asA, { token: "", facts: facts(b.uuid), csrPem: "" })).rejects.toMatchObject({ code: grpc.status.INVALID_ARGUMENT });
    // A fresh token cannot take over a host that still holds a valid certificate either.
    await expect(enroll((await newToken()).token, b.uuid)).rejects.toMatchObject({ code: grpc.status.PERMISSION_DENIED });
    expect((await adminHost(b.uuid))!.name).toBe(`h-${b.uuid.slice(0, 8)}`);
  });

  it("refuses Connect without a client certificate, even with the host's secret", async () => {
    const a = await enroll((await newToken()).token);
    const md = claim(a.uuid);
    md.set("x-orbit-host-secret", a.res.hostSecret);
    expect(await openStream(client(), md)).toMatchObject({ code: grpc.status.UNAUTHENTICATED, details: expect.stringContaining("client certificate") });
    // A known host refreshing without its certificate is refused too.
    await expect(register(client(), { token: "", facts: facts(a.uuid), csrPem: "" }, md)).rejects.toMatchObject({ code: grpc.status.UNAUTHENTICATED });
  });

  it("refuses a certificate signed by another CA, even one naming a real host", async () => {
    const a = await enroll((await newToken()).token);
    const rogue = await CertificateAuthority.create({ commonName: "rogue" });
    const keyPem = newHostKeyPem();
    const forged = await rogue.signHostCsr(await hostCsrPem(keyPem, a.uuid), a.uuid, 90);
    const c = client({ keyPem, certPem: forged.certPem });
    expect(await openStream(c, claim(a.uuid))).toMatchObject({ code: grpc.status.UNAUTHENTICATED });
    await expect(register(c, { token: "", facts: facts(a.uuid), csrPem: "" }, claim(a.uuid))).rejects.toMatchObject({ code: grpc.status.UNAUTHENTICATED });
  });

  it("refuses a revoked certificate and drops the stream it had open", async () => {
    const { token } = await newToken();
    const uuid = randomUUID();
    const agent = startAgent(uuid, "mtls-revoked", token);
    await agent.connection.connected;
    const host = await cloud.waitFor("host Up", async () => {
      const h = await adminHost(uuid);
      return h?.state === "Up" && h;
    });
    expect(cloud.manager.sessions.isConnected(host.id)).toBe(true);
    const identity = (agent.connection as unknown as { o: { identity: MemoryIdentityStore } }).o.identity.load()!;

    const r = await cloud.api("POST", `/v1/admin/hosts/${host.id}/revoke-certificate`);
    expect(r.status).toBe(200);
    expect(r.json.revoked).toEqual([new X509Certificate(identity.tls!.certPem).serialNumber.toLowerCase()]);
    await cloud.waitFor("stream dropped", async () => !cloud.manager.sessions.isConnected(host.id));
    expect(await openStream(client(identity.tls!), claim(uuid))).toMatchObject({
      code: grpc.status.UNAUTHENTICATED, details: "the client certificate has been revoked",
    });
    // The agent's fallback, its one-time token, is spent: it stays out.
    await expect(register(client(), { token, facts: facts(uuid), csrPem: await hostCsrPem(newHostKeyPem(), uuid) }))
      .rejects.toMatchObject({ code: grpc.status.UNAUTHENTICATED, details: "registration token already used" });
    expect(cloud.manager.sessions.isConnected(host.id)).toBe(false);
    // With a new token after the revocation, the host may enroll again.
    const back = await enroll((await newToken()).token, uuid);
    expect(back.res.hostId).toBe(uuid);
  });

  it("drops a stream whose certificate another manager revoked (seen by the periodic check)", async () => {
    const uuid = randomUUID();
    const agent = startAgent(uuid, "mtls-elsewhere", (await newToken()).token);
    await agent.connection.connected;
    const host = await cloud.waitFor("host Up", async () => {
      const h = await adminHost(uuid);
      return h?.state === "Up" && h;
    });
    // Straight into the database, as another manager sharing it would: no API call on this one.
    await cloud.manager.database.db.update(hostCertificates).set({ revokedAt: new Date() }).where(eq(hostCertificates.hostId, host.id));
    await cloud.waitFor("stream dropped", async () => !cloud.manager.sessions.isConnected(host.id));
  });

  it("renews a certificate when a host sends a CSR over its current certificate", async () => {
    const a = await enroll((await newToken()).token);
    const keyPem = newHostKeyPem();
    const res = await register(client(a), { token: "", facts: facts(a.uuid), csrPem: await hostCsrPem(keyPem, a.uuid) }, claim(a.uuid));
    const renewed = new X509Certificate(res.certificatePem);
    expect(renewed.subject).toContain(`CN=${a.uuid}`);
    expect(renewed.serialNumber).not.toBe(new X509Certificate(a.certPem).serialNumber);
    expect(await openStream(client({ keyPem, certPem: res.certificatePem }), claim(a.uuid))).toBe("answered");
  });

  it("enrolls an agent that has no CA configured by trusting on first use, then pins the CA", async () => {
    const uuid = randomUUID();
    const agent = startAgent(uuid, "mtls-tofu", (await newToken()).token, {});
    await agent.connection.connected;
    await cloud.waitFor("TOFU host Up", async () => (await adminHost(uuid))?.state === "Up");
    const stored = (agent.connection as unknown as { o: { identity: MemoryIdentityStore } }).o.identity.load()!;
    expect(stored.tls!.caPem).toBe(cloud.manager.caPem);
  });

  it("validates token creation and 404s an unknown token", async () => {
    expect((await cloud.api("POST", "/v1/admin/registration-tokens", { expires_in_seconds: 0 })).status).toBe(400);
    expect((await cloud.api("POST", "/v1/admin/registration-tokens", { surprise: 1 })).status).toBe(400);
    expect((await cloud.api("DELETE", "/v1/admin/registration-tokens/999999")).status).toBe(404);
    expect((await cloud.api("POST", "/v1/admin/registration-tokens", {}, null)).status).toBe(401);
  });
});

describe("static join token disabled", () => {
  let strict: TestCloud;
  beforeAll(async () => {
    strict = await startTestCloud({ hosts: [], env: { ORBIT_GRPC_TLS: "true", ORBIT_ALLOW_STATIC_JOIN_TOKEN: "false" } });
  }, 120_000);
  afterAll(async () => { await strict?.stop(); });

  it("refuses the static token and accepts a one-time token", async () => {
    const c = new AgentServiceClient(strict.manager.grpcAddress, grpc.credentials.createSsl(Buffer.from(strict.manager.caPem)));
    clients.push(c);
    const uuid = randomUUID();
    const csrPem = await hostCsrPem(newHostKeyPem(), uuid);
    await expect(register(c, { token: strict.manager.agentToken, facts: facts(uuid), csrPem })).rejects.toMatchObject({ code: grpc.status.UNAUTHENTICATED });
    const token = (await strict.api("POST", "/v1/admin/registration-tokens", {})).json.token as string;
    expect((await register(c, { token, facts: facts(uuid), csrPem })).certificatePem).toContain("BEGIN CERTIFICATE");
  });
});
