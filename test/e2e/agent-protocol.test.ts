// The agent protocol under misuse and failure: bad tokens, unknown hosts, garbage bytes, a host
// speaking for another, streams breaking with commands in flight, hosts changing behind the
// manager's back.
import * as grpc from "@grpc/grpc-js";
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AgentServiceClient, VmSpec, type HostFacts, type RegisterResponse } from "#shared/protocol.js";
import { startTestCloud, type TestCloud } from "./harness.js";

const HOSTS = [
  { hostname: "proto-a", uuid: "a0000000-0000-4000-8000-0000000000a1", cpus: 8, memoryMib: 16384 },
  { hostname: "proto-b", uuid: "a0000000-0000-4000-8000-0000000000b2", cpus: 8, memoryMib: 16384 },
];

let cloud: TestCloud;
let client: AgentServiceClient;
beforeAll(async () => {
  cloud = await startTestCloud({ hosts: HOSTS, fleet: { startDelayMs: 600 } });
  client = new AgentServiceClient(cloud.manager.grpcAddress, grpc.credentials.createInsecure());
}, 120_000);
afterAll(async () => { client?.close(); await cloud?.stop(); });

function facts(over: Partial<HostFacts> = {}): HostFacts {
  return {
    hostUuid: randomUUID(), hostname: "intruder", hypervisor: "simulator", cpuModel: "x", cpuArch: "x86_64",
    sockets: 1, coresPerSocket: 4, threadsPerCore: 1, cpus: 4, cpuMhz: 1000, memoryMib: 4096, numaCells: [],
    hostTags: [], gpus: [], agentVersion: "test", hypervisorVersion: "test", environment: "default", cluster: "default",
    driver: "simulator", discoveryWarnings: [], capabilities: [], migrationUri: "", clusterAddress: "", storageHeartbeatDir: "", ...over,
  };
}

function register(token: string, f: HostFacts, md = new grpc.Metadata()): Promise<RegisterResponse> {
  return new Promise((resolve, reject) => client.register({ token, facts: f, csrPem: "" }, md, (e, r) => (e ? reject(e) : resolve(r))));
}

async function hostCount(): Promise<number> {
  return (await cloud.api("GET", "/v1/admin/hosts")).json.hosts.length;
}

describe("agent protocol", () => {
  it("refuses a bad join token with UNAUTHENTICATED and registers nothing", async () => {
    await expect(register("not-the-token-0123456789", facts())).rejects.toMatchObject({ code: grpc.status.UNAUTHENTICATED });
    expect(await hostCount()).toBe(2);
  });

  it("refuses invalid facts with INVALID_ARGUMENT naming the field", async () => {
    await expect(register(cloud.manager.agentToken, facts({ cpus: 0 }))).rejects.toMatchObject({
      code: grpc.status.INVALID_ARGUMENT, details: expect.stringContaining("cpus"),
    });
    await expect(register(cloud.manager.agentToken, facts({ hostUuid: "not-a-uuid" }))).rejects.toMatchObject({
      code: grpc.status.INVALID_ARGUMENT, details: expect.stringContaining("host_uuid"),
    });
    expect(await hostCount()).toBe(2);
  });

  it("refuses garbage bytes and keeps serving", async () => {
    const raw = new grpc.Client(cloud.manager.grpcAddress, grpc.credentials.createInsecure());
    const err = await new Promise<grpc.ServiceError | null>((resolve) => {
      raw.makeUnaryRequest("/orbit.agent.v1.AgentService/Register", (b: Buffer) => b, (b: Buffer) => b,
        Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f, 0x12, 0x99, 0x01]), (e) => resolve(e));
    });
    raw.close();
    expect(err?.code).toBeDefined();
    expect(err?.code).not.toBe(grpc.status.OK);
    // Still alive: the API and the gateway answer.
    expect(await hostCount()).toBe(2);
    await expect(register("wrong-token-0123456789", facts())).rejects.toMatchObject({ code: grpc.status.UNAUTHENTICATED });
  });

  it("refuses a stream for an unknown host id or a wrong secret", async () => {
    for (const [id, secret] of [[randomUUID(), "hs_whatever"], [HOSTS[0]!.uuid, "hs_wrong-secret"]]) {
      const md = new grpc.Metadata();
      md.set("x-orbit-host-id", id!);
      md.set("x-orbit-host-secret", secret!);
      const stream = client.connect(md);
      const code = await new Promise<number>((resolve) => {
        stream.on("error", (e: grpc.ServiceError) => resolve(e.code));
        stream.on("data", () => {});
      });
      expect(code).toBe(grpc.status.UNAUTHENTICATED);
    }
  });

  it("does not let a host register facts for another host id", async () => {
    const reg = await register(cloud.manager.agentToken, facts({ hostname: "honest" }));
    const md = new grpc.Metadata();
    md.set("x-orbit-host-id", reg.hostId);
    md.set("x-orbit-host-secret", reg.hostSecret);
    await expect(register("", facts({ hostUuid: HOSTS[0]!.uuid }), md)).rejects.toMatchObject({ code: grpc.status.INVALID_ARGUMENT });
    const hosts = (await cloud.api("GET", "/v1/admin/hosts")).json.hosts;
    expect(hosts.find((h: any) => h.uuid === HOSTS[0]!.uuid).name).toBe("proto-a");
  });

  it("refuses a join-token registration that would take over an existing host, until an admin resets it", async () => {
    const victim = HOSTS[0]!;
    const takeover = register(cloud.manager.agentToken, facts({ hostUuid: victim.uuid, hostname: "attacker", cpus: 1024 }));
    await expect(takeover).rejects.toMatchObject({ code: grpc.status.PERMISSION_DENIED, details: expect.stringContaining("already registered") });
    let hosts = (await cloud.api("GET", "/v1/admin/hosts")).json.hosts;
    const row = hosts.find((h: any) => h.uuid === victim.uuid);
    expect(row).toMatchObject({ name: "proto-a", state: "Up" });
    expect(row.capacity.cpus).toBe(8);

    // The operator reinstalled the agent and lost its identity: reset, then the host registers again.
    const before = (cloud.fleet.agents[0]!.connection as any).o.identity.load().hostSecret;
    const reset = await cloud.api("POST", `/v1/admin/hosts/${row.id}/reset-identity`);
    expect(reset.status).toBe(200);
    // Its stream is dropped and its secret refused: the agent enrolls again with its join token.
    await cloud.waitFor("agent re-enrolled", async () => {
      const now = (cloud.fleet.agents[0]!.connection as any).o.identity.load()?.hostSecret;
      return now && now !== before && cloud.manager.sessions.isConnected(row.id);
    });
    hosts = (await cloud.api("GET", "/v1/admin/hosts")).json.hosts;
    expect(hosts.find((h: any) => h.uuid === victim.uuid)).toMatchObject({ name: "proto-a", state: "Up" });
  });

  it("answers a command in flight when the stream broke after the reconnect, without executing it twice", async () => {
    const agent = cloud.fleet.agents[1]!;
    const hv = cloud.fleet.hypervisors[1]!;
    const hosts = (await cloud.api("GET", "/v1/admin/hosts")).json.hosts;
    const hostId = hosts.find((h: any) => h.uuid === HOSTS[1]!.uuid).id as number;
    const vmUuid = randomUUID();
    const command = {
      commandId: randomUUID(), deadlineMs: Date.now() + 60_000, vmUuid,
      body: { $case: "startVm" as const, value: { spec: VmSpec.fromPartial({ vmUuid, name: "inflight", vcpus: 1, memoryMib: 256 }) } },
    };
    const startsBefore = hv.calls.start;
    const first = cloud.manager.sessions.dispatch(hostId, command, 10_000);
    const firstOutcome = first.then(() => "answered", (e: { code: string; retryable: boolean }) => e);
    // Break the stream while the (600 ms) start runs.
    await new Promise((r) => setTimeout(r, 100));
    expect(cloud.manager.sessions.disconnect(hostId, "test: network drop")).toBe(true);
    expect(await firstOutcome).toMatchObject({ code: "agent_unavailable", retryable: true });
    await cloud.waitFor("reconnect", async () => cloud.manager.sessions.isConnected(hostId));
    const again = await cloud.manager.sessions.dispatch(hostId, command, 10_000);
    expect(again.ok).toBe(true);
    expect(hv.calls.start - startsBefore).toBe(1);
    expect(hv.has(vmUuid)).toBe(true);
    await hv.destroyVm(vmUuid);
    expect(agent.connection.hostId).toBe(HOSTS[1]!.uuid);
  });

  it("reconciles a VM that stopped behind the manager's back, and reports unmanaged domains without touching them", async () => {
    const created = await cloud.api("POST", "/v1/core/virtual-machines", { name: "reconcile", flavor_name: "t1-tiny", image_name: "Debian 12" });
    expect(created.status).toBe(200);
    const inst = created.json.instances[0];
    await cloud.waitFor("running", async () => (await cloud.api("GET", `/v1/core/virtual-machines/${inst.id}`)).json.instance?.status === "ACTIVE");
    const idx = HOSTS.findIndex((h) => h.hostname === inst.host);
    const hv = cloud.fleet.hypervisors[idx]!;
    hv.crash(inst.uuid, "shutdown");
    const stopped = await cloud.waitFor("stopped", async () => {
      const i = (await cloud.api("GET", `/v1/core/virtual-machines/${inst.id}`)).json.instance;
      return i?.status === "SHUTOFF" && i;
    });
    expect(stopped.orbit_state).toBe("Stopped");

    const stranger = randomUUID();
    hv.addUnmanaged(stranger, "hand-made");
    const seen = await cloud.waitFor("unmanaged reported", async () => {
      const h = (await cloud.api("GET", "/v1/admin/hosts")).json.hosts.find((x: any) => x.name === inst.host);
      return h.unmanaged_domains.find((d: any) => d.uuid === stranger);
    });
    expect(seen).toMatchObject({ name: "hand-made", power_state: "RUNNING" });
    expect(hv.has(stranger)).toBe(true);
    await hv.destroyVm(stranger);
  });
});
