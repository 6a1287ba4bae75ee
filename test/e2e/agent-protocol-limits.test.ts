// The agent gateway's intake is bounded: every repeated field and string of Register and of the
// stream's messages, and the message size. Over real gRPC: each refusal names the field and the
// limit, comes before any database work (nothing registered) and leaves the gateway serving.
import * as grpc from "@grpc/grpc-js";
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AgentServiceClient, type AgentMessage, type Gpu, type HostFacts, type RegisterResponse } from "#shared/protocol.js";
import { PROTOCOL_LIMITS } from "../../manager/src/agents/protocol-limits.js";
import { startTestCloud, type TestCloud } from "./harness.js";

let cloud: TestCloud;
let client: AgentServiceClient;
beforeAll(async () => {
  cloud = await startTestCloud({ hosts: [{ hostname: "limits-a", uuid: "b0000000-0000-4000-8000-0000000000a1", cpus: 8, memoryMib: 16384 }] });
  // The client may send what the server refuses: its own send limit is lifted.
  client = new AgentServiceClient(cloud.manager.grpcAddress, grpc.credentials.createInsecure(), { "grpc.max_send_message_length": -1 });
}, 120_000);
afterAll(async () => { client?.close(); await cloud?.stop(); });

function facts(over: Partial<HostFacts> = {}): HostFacts {
  return {
    hostUuid: randomUUID(), hostname: "limits-probe", hypervisor: "simulator", cpuModel: "x", cpuArch: "x86_64",
    sockets: 1, coresPerSocket: 4, threadsPerCore: 1, cpus: 4, cpuMhz: 1000, memoryMib: 4096, numaCells: [],
    hostTags: [], gpus: [], agentVersion: "test", hypervisorVersion: "test", environment: "default", cluster: "default",
    driver: "simulator", discoveryWarnings: [], capabilities: [], migrationUri: "", clusterAddress: "", storageHeartbeatDir: "", ...over,
  };
}

function gpu(i: number, over: Partial<Gpu> = {}): Gpu {
  const hex = i.toString(16).padStart(6, "0");
  return {
    pciAddress: `${hex.slice(0, 4)}:${hex.slice(4)}:00.0`, uuid: "", model: "NVIDIA H100 80GB HBM3", memoryMib: 81559, numaNode: 0,
    virtualizationMode: "passthrough", migEnabled: false, migDevices: [], nvlinkPeers: [], vgpuTypes: [], driverVersion: "", cpuAffinity: "",
    ...over,
  };
}

function register(f: HostFacts, token = cloud.manager.agentToken): Promise<RegisterResponse> {
  return new Promise((resolve, reject) => client.register({ token, facts: f, csrPem: "" }, (e, r) => (e ? reject(e) : resolve(r))));
}

async function hostCount(): Promise<number> {
  return (await cloud.api("GET", "/v1/admin/hosts")).json.hosts.length;
}

describe("agent protocol limits", () => {
  it("refuses a Register with 100,000 GPUs at once with INVALID_ARGUMENT naming facts.gpus and the limit", async () => {
    const many = Array.from({ length: 100_000 }, (_, i) => gpu(i, { model: "G" }));
    await expect(register(facts({ gpus: many }))).rejects.toMatchObject({
      code: grpc.status.INVALID_ARGUMENT,
      details: `facts.gpus has 100000 entries; at most ${PROTOCOL_LIMITS.gpus} are accepted`,
    });
    expect(await hostCount()).toBe(1);
  });

  it("bounds every repeated field and string of the facts, naming each", async () => {
    const cases: [string, Partial<HostFacts>][] = [
      ["facts.gpus", { gpus: Array.from({ length: PROTOCOL_LIMITS.gpus + 1 }, (_, i) => gpu(i)) }],
      ["facts.numa_cells", { numaCells: Array.from({ length: PROTOCOL_LIMITS.numaCells + 1 }, (_, id) => ({ id, cpus: [id], memoryMib: 1024 })) }],
      ["facts.numa_cells.cpus", { numaCells: [{ id: 0, cpus: Array.from({ length: PROTOCOL_LIMITS.cpusPerNumaCell + 1 }, (_, c) => c), memoryMib: 1024 }] }],
      ["facts.host_tags", { hostTags: Array.from({ length: PROTOCOL_LIMITS.hostTags + 1 }, (_, i) => `t${i}`) }],
      ["facts.discovery_warnings", { discoveryWarnings: Array.from({ length: PROTOCOL_LIMITS.discoveryWarnings + 1 }, () => "w") }],
      ["facts.gpus.vgpu_types", { gpus: [gpu(0, { vgpuTypes: Array.from({ length: PROTOCOL_LIMITS.vgpuTypesPerGpu + 1 }, (_, i) => ({ typeId: `nvidia-${i}`, name: "x", availableInstances: 1, maxInstances: 1, framebufferMib: 1, description: "" })) })] }],
      ["facts.gpus.mig_devices", { gpus: [gpu(0, { migDevices: Array.from({ length: PROTOCOL_LIMITS.migDevicesPerGpu + 1 }, (_, i) => ({ gpuInstanceId: i, computeInstanceId: 0, profile: "1g.10gb", memoryMib: 1, uuid: "" })) })] }],
      ["facts.gpus.nvlink_peers", { gpus: [gpu(0, { nvlinkPeers: Array.from({ length: PROTOCOL_LIMITS.nvlinkPeersPerGpu + 1 }, (_, i) => `p${i}`) })] }],
      ["facts.cpu_model", { cpuModel: "x".repeat(PROTOCOL_LIMITS.stringChars + 1) }],
      ["facts.gpus.model", { gpus: [gpu(0, { model: "m".repeat(PROTOCOL_LIMITS.stringChars + 1) })] }],
      ["facts.gpus.vgpu_types.description", { gpus: [gpu(0, { vgpuTypes: [{ typeId: "nvidia-1", name: "x", availableInstances: 1, maxInstances: 1, framebufferMib: 1, description: "d".repeat(PROTOCOL_LIMITS.longStringChars + 1) }] })] }],
    ];
    for (const [field, over] of cases) {
      const err = await register(facts(over)).then(() => undefined, (e: grpc.ServiceError) => e);
      expect(err, field).toMatchObject({ code: grpc.status.INVALID_ARGUMENT });
      expect(err!.details, field).toMatch(new RegExp(`^${field.replace(/\./g, "\\.")} (has|is) \\d+ .*at most \\d+ are accepted$`));
    }
    // Strings of the request itself.
    await expect(register(facts(), "t".repeat(PROTOCOL_LIMITS.tokenChars + 1))).rejects.toMatchObject({
      code: grpc.status.INVALID_ARGUMENT, details: expect.stringMatching(/^token is \d+ characters long; at most 512/),
    });
    expect(await hostCount()).toBe(1);
    // At the limits, a host registers.
    const ok = await register(facts({ hostname: "limits-ok", gpus: Array.from({ length: PROTOCOL_LIMITS.gpus }, (_, i) => gpu(i)) }));
    expect(ok.hostId).toMatch(/^[0-9a-f-]{36}$/);
    expect(await hostCount()).toBe(2);
  });

  it("refuses a message over the size limit with RESOURCE_EXHAUSTED and keeps serving", async () => {
    const huge = "w".repeat(PROTOCOL_LIMITS.maxMessageBytes + 1);
    await expect(register(facts({ discoveryWarnings: [huge] }))).rejects.toMatchObject({ code: grpc.status.RESOURCE_EXHAUSTED });
    await expect(register(facts(), "not-the-token-0123456789")).rejects.toMatchObject({ code: grpc.status.UNAUTHENTICATED });
  });

  it("ends a stream whose heartbeat lists too many domains with INVALID_ARGUMENT naming heartbeat.domains", async () => {
    const reg = await register(facts({ hostname: "limits-stream" }));
    const md = new grpc.Metadata();
    md.set("x-orbit-host-id", reg.hostId);
    md.set("x-orbit-host-secret", reg.hostSecret);
    const stream = client.connect(md);
    const ended = new Promise<grpc.ServiceError>((resolve) => {
      stream.on("error", (e: grpc.ServiceError) => resolve(e));
      stream.on("data", () => {});
    });
    const domains = Array.from({ length: PROTOCOL_LIMITS.domainsPerHeartbeat + 1 }, () => ({
      vmUuid: randomUUID(), name: "d", powerState: 1, reason: "", managed: false,
    }));
    const msg: AgentMessage = { body: { $case: "heartbeat", value: { seq: 1, sentAtMs: Date.now(), domains, freeMemoryMib: 1024, bootId: "" } } };
    stream.write(msg);
    const err = await ended;
    expect(err.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(err.details).toBe(`heartbeat.domains has ${domains.length} entries; at most ${PROTOCOL_LIMITS.domainsPerHeartbeat} are accepted`);
    stream.cancel();
  });
});
