// An agent configured with one manager learns the others from it (AgentSettings.manager_addresses)
// and, when that manager goes away, holds its stream to the next one. Two fake managers: gRPC
// servers of AgentService that register anyone and count the streams they get.
import { randomUUID } from "node:crypto";
import * as grpc from "@grpc/grpc-js";
import pino from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { AgentServiceService, type AgentMessage, type AgentServiceServer, type ManagerMessage } from "#shared/protocol.js";
import { OrbitAgent } from "../agent.js";
import { SimulatorHypervisor } from "../drivers/simulator/simulator-hypervisor.js";
import { StaticGpuInventory } from "../gpu/gpu-inventory.js";
import { MemoryIdentityStore } from "./identity-store.js";

interface FakeManager { address: string; streams: number; server: grpc.Server }

async function fakeManager(advertise: () => string[]): Promise<FakeManager> {
  const m = { address: "", streams: 0, server: new grpc.Server() };
  const impl: AgentServiceServer = {
    register: (_call, cb) => cb(null, {
      hostId: randomUUID(), hostSecret: "s", certificatePem: "", caPem: "",
      settings: { heartbeatIntervalMs: 200, reconnectBackoffMaxMs: 1000, selfFenceAfterMs: 0, storageHeartbeatIntervalMs: 0, managerAddresses: advertise() },
    }),
    connect: (call: grpc.ServerDuplexStream<AgentMessage, ManagerMessage>) => {
      m.streams++;
      call.on("data", () => {});
      call.on("end", () => call.end());
      call.on("error", () => {});
    },
    fetchImage: (call) => { call.emit("error", { code: grpc.status.UNIMPLEMENTED, details: "fake" }); },
  };
  m.server.addService(AgentServiceService, impl);
  const port = await new Promise<number>((resolve, reject) => {
    m.server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p)));
  });
  m.address = `127.0.0.1:${port}`;
  return m;
}

describe("AgentConnection with several managers", () => {
  const cleanup: (() => Promise<void> | void)[] = [];
  afterEach(async () => { for (const c of cleanup.splice(0).reverse()) await c(); });

  it("adds the managers its manager advertises, and moves to the next one when its manager is gone", async () => {
    const addresses: string[] = [];
    const a = await fakeManager(() => addresses);
    const b = await fakeManager(() => addresses);
    addresses.push(a.address, b.address);
    cleanup.push(() => a.server.forceShutdown(), () => b.server.forceShutdown());
    const agent = new OrbitAgent({
      managerAddress: [a.address], joinToken: "t", identity: new MemoryIdentityStore(),
      hypervisor: new SimulatorHypervisor({ hostUuid: randomUUID(), hostname: "failover-1", cpus: 2, memoryMib: 2048 }),
      gpus: new StaticGpuInventory([]), host: { tags: [], environment: "default", cluster: "default" },
      log: pino({ level: "silent" }), backoff: { initialMs: 100, maxMs: 1000 },
    });
    agent.start();
    cleanup.push(() => agent.stop());
    await agent.connection.connected;
    await expect.poll(() => a.streams, { timeout: 5000 }).toBe(1);
    expect(agent.connection.managers.addresses()).toEqual([a.address, b.address]);

    a.server.forceShutdown();
    await expect.poll(() => b.streams, { timeout: 10_000 }).toBe(1);
    expect(agent.connection.managers.current()).toBe(b.address);
  });

  it("goes round a configured list, skipping a manager that refuses connections", async () => {
    const b = await fakeManager(() => []);
    cleanup.push(() => b.server.forceShutdown());
    // A port nothing listens on (a manager that is down): refused, so the next one is tried.
    const down = await fakeManager(() => []);
    const downAddress = down.address;
    down.server.forceShutdown();
    const agent = new OrbitAgent({
      managerAddress: [downAddress, b.address], joinToken: "t", identity: new MemoryIdentityStore(),
      hypervisor: new SimulatorHypervisor({ hostUuid: randomUUID(), hostname: "failover-2", cpus: 2, memoryMib: 2048 }),
      gpus: new StaticGpuInventory([]), host: { tags: [], environment: "default", cluster: "default" },
      log: pino({ level: "silent" }), backoff: { initialMs: 100, maxMs: 1000 },
    });
    agent.start();
    cleanup.push(() => agent.stop());
    await agent.connection.connected;
    await expect.poll(() => b.streams, { timeout: 5000 }).toBe(1);
    expect(agent.connection.managers.current()).toBe(b.address);
  });
});
