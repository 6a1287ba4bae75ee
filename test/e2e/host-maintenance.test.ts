// Host maintenance, enable/disable and removal through the admin API on a simulated fleet: the
// maintenance states, placement skipping hosts out of service, every refusal (unknown host, wrong
// state, user key, bad body) changing nothing, and a removed host's agent refused at reconnect.
import * as grpc from "@grpc/grpc-js";
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AgentServiceClient, type HostFacts, type RegisterResponse } from "#shared/protocol.js";
import { eq, like } from "drizzle-orm";
import { jobs, storagePools } from "../../manager/src/db/schema.js";
import { createUserKey, errorShapeProblems, jobsIdle as harnessJobsIdle, startTestCloud, stateDigest, type TestCloud } from "./harness.js";

const H100 = "NVIDIA H100 80GB HBM3";
const HOSTS = [
  { hostname: "hm-1", uuid: "d1000000-0000-4000-8000-000000000001", cpus: 16, memoryMib: 32768 },
  { hostname: "hm-2", uuid: "d1000000-0000-4000-8000-000000000002", cpus: 16, memoryMib: 32768 },
  { hostname: "hm-g1", uuid: "d1000000-0000-4000-8000-0000000000a1", cpus: 32, memoryMib: 131072, gpus: [{ model: H100, memoryMib: 81559, count: 1 }], cluster: "gpu" },
  { hostname: "hm-g2", uuid: "d1000000-0000-4000-8000-0000000000a2", cpus: 32, memoryMib: 131072, gpus: [{ model: H100, memoryMib: 81559, count: 1 }], cluster: "gpu" },
];

let cloud: TestCloud;
let ids: Record<string, number> = {};
let userKey: string;
let client: AgentServiceClient;

beforeAll(async () => {
  cloud = await startTestCloud({ hosts: HOSTS });
  const hs = await cloud.waitFor("hosts up", async () => {
    const r = await cloud.api("GET", "/v1/admin/hosts");
    return r.json.hosts?.length === HOSTS.length && r.json.hosts.every((h: any) => h.state === "Up") && r.json.hosts;
  });
  ids = Object.fromEntries(hs.map((h: any) => [h.name, h.id]));
  // The GPU cluster's storage is shared (a cold move keeps the disks where they are); the CPU
  // hosts' stays local, so their VMs move live with storage motion.
  await cloud.manager.database.db.update(storagePools).set({ kind: "shared" }).where(like(storagePools.name, "default-gpu-%"));
  expect((await cloud.api("POST", "/v1/admin/flavors", { name: "hm-small", cpu: 1, ram: 1 })).status).toBe(201);
  expect((await cloud.api("POST", "/v1/admin/flavors", { name: "hm-gpu", cpu: 4, ram: 8, gpu: H100, gpu_count: 1 })).status).toBe(201);
  userKey = await createUserKey(cloud, "hm-user");
  client = new AgentServiceClient(cloud.manager.grpcAddress, grpc.credentials.createInsecure());
}, 120_000);
afterAll(async () => { client?.close(); await cloud?.stop(); });

/** No job but a maintenance one left running: a blocked maintenance's job runs until it is cancelled, by design. */
const jobsIdle = (cloud: TestCloud) => harnessJobsIdle(cloud, { exceptKinds: ["host.maintenance"] });

const resourceState = async (name: string) => (await cloud.api("GET", "/v1/admin/hosts")).json.hosts.find((h: any) => h.name === name)?.resource_state;

async function createOn(count: number): Promise<any[]> {
  const r = await cloud.api("POST", "/v1/core/virtual-machines", { name: "hm", flavor_name: "hm-small", image_name: "Debian 12", count });
  expect(r.status, JSON.stringify(r.json)).toBe(200);
  await jobsIdle(cloud);
  return r.json.instances;
}

/** A refusal: its status, the uniform error body, a message matching, and nothing changed. */
async function refused(method: string, path: string, body: unknown, status: number, message: RegExp, key?: string) {
  await jobsIdle(cloud);
  const before = await stateDigest(cloud);
  const states = (await cloud.api("GET", "/v1/admin/hosts")).json.hosts.map((h: any) => [h.id, h.resource_state]);
  const r = await cloud.api(method, path, body, key);
  expect(r.status, JSON.stringify(r.json)).toBe(status);
  expect(errorShapeProblems(r.status, r.json)).toEqual([]);
  expect(r.json.message).toMatch(message);
  expect(await stateDigest(cloud)).toBe(before);
  expect((await cloud.api("GET", "/v1/admin/hosts")).json.hosts.map((h: any) => [h.id, h.resource_state])).toEqual(states);
  return r;
}

describe("host maintenance", () => {
  it("PUT enables and disables; the maintenance states are refused there with the route to use", async () => {
    expect((await cloud.api("PUT", `/v1/admin/hosts/${ids["hm-2"]}`, { resource_state: "Disabled" })).json.host).toEqual({ id: ids["hm-2"], resource_state: "Disabled" });
    expect(await resourceState("hm-2")).toBe("Disabled");
    // A disabled host takes nothing: the VMs go to hm-1.
    for (const vm of await createOn(2)) expect(vm.host).toBe("hm-1");
    expect((await cloud.api("PUT", `/v1/admin/hosts/${ids["hm-2"]}`, { resource_state: "Enabled" })).status).toBe(200);
    for (const state of ["Maintenance", "PrepareForMaintenance", "ErrorInMaintenance"]) {
      const r = await refused("PUT", `/v1/admin/hosts/${ids["hm-2"]}`, { resource_state: state }, 409, /POST \/v1\/admin\/hosts\/\d+\/maintenance/);
      expect(r.json.message).toContain(state);
    }
    await refused("PUT", `/v1/admin/hosts/${ids["hm-2"]}`, { resource_state: "Sleeping" }, 400, /resource_state/);
  });

  it("an empty host goes to Maintenance; placement skips it; every wrong-state call is a 409 naming the state", async () => {
    const r = await cloud.api("POST", `/v1/admin/hosts/${ids["hm-2"]}/maintenance`, {});
    expect(r.status, JSON.stringify(r.json)).toBe(202);
    expect(r.json.maintenance).toMatchObject({ host_id: ids["hm-2"], allow_cold_migration: false, vms_total: 0 });
    expect(["PrepareForMaintenance", "Maintenance"]).toContain(r.json.maintenance.resource_state);
    const m = await cloud.waitFor("Maintenance", async () => {
      const g = await cloud.api("GET", `/v1/admin/hosts/${ids["hm-2"]}/maintenance`);
      return g.json.maintenance?.resource_state === "Maintenance" && g.json.maintenance;
    });
    expect(m).toMatchObject({ vms_total: 0, vms_moved: 0, vms_remaining: 0, vms: [] });
    expect(new Date(m.started_at).getTime()).toBeGreaterThan(Date.now() - 60_000);
    const job = await cloud.api("GET", `/v1/core/jobs/${m.job_id}`);
    expect(job.json).toMatchObject({ job: { status: "succeeded", result: { resource_state: "Maintenance" } } });
    for (const vm of await createOn(1)) expect(vm.host).toBe("hm-1");

    await refused("POST", `/v1/admin/hosts/${ids["hm-2"]}/maintenance`, {}, 409, /is Maintenance/);
    await refused("PUT", `/v1/admin/hosts/${ids["hm-2"]}`, { resource_state: "Enabled" }, 409, /is Maintenance: cancel its maintenance first/);
    await refused("DELETE", `/v1/admin/hosts/${ids["hm-1"]}`, undefined, 409, /is Enabled and Up/);

    const c = await cloud.api("DELETE", `/v1/admin/hosts/${ids["hm-2"]}/maintenance`);
    expect(c.status).toBe(200);
    expect(c.json).toMatchObject({ host: { id: ids["hm-2"], resource_state: "Enabled" }, still_migrating: [] });
    expect(await resourceState("hm-2")).toBe("Enabled");
    await refused("DELETE", `/v1/admin/hosts/${ids["hm-2"]}/maintenance`, undefined, 409, /is Enabled: it is not in maintenance/);
    await refused("GET", `/v1/admin/hosts/${ids["hm-2"]}/maintenance`, undefined, 409, /is Enabled: it is not in maintenance/);
  });

  it("a host with running VMs: PrepareForMaintenance at once, new VMs go elsewhere, its VMs live-migrated off, then Maintenance", async () => {
    const r = await cloud.api("POST", `/v1/admin/hosts/${ids["hm-1"]}/maintenance`, { allow_cold_migration: false });
    expect(r.status).toBe(202);
    expect(r.json.maintenance.resource_state).toBe("PrepareForMaintenance");
    for (const vm of await createOn(1)) expect(vm.host).toBe("hm-2");
    let last: unknown;
    const m = await cloud.waitFor("Maintenance", async () => {
      const g = (await cloud.api("GET", `/v1/admin/hosts/${ids["hm-1"]}/maintenance`)).json.maintenance;
      last = g;
      return g?.resource_state === "Maintenance" && g;
    }, 110_000).catch(async (e: unknown) => {
      const jobsNow = await cloud.manager.database.db.select().from(jobs).where(eq(jobs.kind, "vm.migrate"));
      throw new Error(`${String(e)}\nmaintenance: ${JSON.stringify(last)}\nmigration jobs: ${JSON.stringify(jobsNow)}`);
    });
    expect(m).toMatchObject({ vms_total: 3, vms_moved: 3, vms_remaining: 0 });
    for (const vm of m.vms) expect(vm).toMatchObject({ status: "moved", mode: "live", destination_host_id: ids["hm-2"] });
    const vmsNow = (await cloud.api("GET", "/v1/core/virtual-machines")).json.instances as any[];
    expect(vmsNow.filter((v) => v.status === "ACTIVE").map((v) => v.host)).toEqual(vmsNow.map(() => "hm-2"));
    await refused("POST", `/v1/admin/hosts/${ids["hm-1"]}/maintenance`, {}, 409, /is Maintenance/);
    const c = await cloud.api("DELETE", `/v1/admin/hosts/${ids["hm-1"]}/maintenance`);
    expect(c.status).toBe(200);
    expect(await resourceState("hm-1")).toBe("Enabled");
  }, 150_000);

  it("a passthrough GPU VM blocks the maintenance, saying why; with allow_cold_migration it is moved cold", async () => {
    const r = await cloud.api("POST", "/v1/core/virtual-machines", { name: "hm-gpu", flavor_name: "hm-gpu", image_name: "Debian 12", count: 1 });
    expect(r.status, JSON.stringify(r.json)).toBe(200);
    await jobsIdle(cloud);
    const gpuHost = (await cloud.api("GET", `/v1/core/virtual-machines/${r.json.instances[0].id}`)).json.instance.host as string;
    const other = gpuHost === "hm-g1" ? "hm-g2" : "hm-g1";
    expect((await cloud.api("POST", `/v1/admin/hosts/${ids[gpuHost]}/maintenance`, {})).status).toBe(202);
    const blocked = await cloud.waitFor("blocked", async () => {
      const g = (await cloud.api("GET", `/v1/admin/hosts/${ids[gpuHost]}/maintenance`)).json.maintenance;
      return g?.vms?.[0]?.status === "blocked" && g;
    });
    expect(blocked.resource_state).toBe("PrepareForMaintenance");
    expect(blocked.vms[0].reason).toMatch(/passthrough GPU.*allow_cold_migration/);
    expect((await cloud.api("DELETE", `/v1/admin/hosts/${ids[gpuHost]}/maintenance`)).status).toBe(200);

    expect((await cloud.api("POST", `/v1/admin/hosts/${ids[gpuHost]}/maintenance`, { allow_cold_migration: true })).status).toBe(202);
    let last: unknown;
    const done = await cloud.waitFor("Maintenance", async () => {
      const g = (await cloud.api("GET", `/v1/admin/hosts/${ids[gpuHost]}/maintenance`)).json.maintenance;
      return g?.resource_state === "Maintenance" ? g : (last = g, false);
    }, 20_000).catch((e) => { throw new Error(`${String(e)}; last: ${JSON.stringify(last)}`); });
    expect(done.vms).toEqual([expect.objectContaining({ status: "moved", mode: "cold", destination_host_id: ids[other] })]);
    await jobsIdle(cloud);
    expect((await cloud.api("GET", `/v1/core/virtual-machines/${r.json.instances[0].id}`)).json.instance).toMatchObject({ status: "ACTIVE", host: other });
    expect((await cloud.api("DELETE", `/v1/admin/hosts/${ids[gpuHost]}/maintenance`)).status).toBe(200);
  }, 60_000);

  it("refuses unknown hosts (404), user keys (403) and bad bodies (400), changing nothing", async () => {
    for (const [method, path] of [
      ["POST", "/v1/admin/hosts/99999/maintenance"], ["GET", "/v1/admin/hosts/99999/maintenance"],
      ["DELETE", "/v1/admin/hosts/99999/maintenance"], ["DELETE", "/v1/admin/hosts/99999"],
    ] as const) {
      await refused(method, path, method === "POST" ? {} : undefined, 404, /host 99999 not found/);
      await refused(method, path.replace("99999", String(ids["hm-2"])), method === "POST" ? {} : undefined, 403, /./, userKey);
    }
    await refused("PUT", `/v1/admin/hosts/${ids["hm-2"]}`, { resource_state: "Disabled" }, 403, /./, userKey);
    await refused("POST", `/v1/admin/hosts/${ids["hm-2"]}/maintenance`, { allow_cold_migration: "yes" }, 400, /allow_cold_migration/);
    await refused("POST", `/v1/admin/hosts/${ids["hm-2"]}/maintenance`, { force: true }, 400, /force/);
    await refused("DELETE", "/v1/admin/hosts/abc", undefined, 400, /id/);
  });
});

describe("host removal", () => {
  function facts(uuid: string): HostFacts {
    return {
      hostUuid: uuid, hostname: `rm-${uuid.slice(0, 6)}`, hypervisor: "simulator", cpuModel: "x", cpuArch: "x86_64",
      sockets: 1, coresPerSocket: 4, threadsPerCore: 1, cpus: 4, cpuMhz: 1000, memoryMib: 4096, numaCells: [],
      hostTags: [], gpus: [], agentVersion: "test", hypervisorVersion: "test", environment: "default", cluster: "default",
      driver: "simulator", discoveryWarnings: [], capabilities: [], migrationUri: "", clusterAddress: "", storageHeartbeatDir: "",
    };
  }
  const register = (f: HostFacts) => new Promise<RegisterResponse>((resolve, reject) =>
    client.register({ token: cloud.manager.agentToken, facts: f, csrPem: "" }, new grpc.Metadata(), (e, r) => (e ? reject(e) : resolve(r))));
  /** Opens Connect as the host and reports how it went: refused with a status, or answered. */
  function openStream(hostUuid: string, secret: string): Promise<{ code: number; details: string } | "answered"> {
    const md = new grpc.Metadata();
    md.set("x-orbit-host-id", hostUuid);
    md.set("x-orbit-host-secret", secret);
    const stream = client.connect(md);
    return new Promise((resolve) => {
      stream.on("error", (e: grpc.ServiceError) => resolve({ code: e.code, details: e.details }));
      stream.on("data", () => { resolve("answered"); stream.cancel(); });
      stream.write({ body: { $case: "heartbeat", value: { seq: 1, sentAtMs: Date.now(), domains: [], freeMemoryMib: 1024, bootId: "" } } });
    });
  }

  it("refuses a host that still holds VMs, naming them, even when Disabled", async () => {
    expect((await cloud.api("PUT", `/v1/admin/hosts/${ids["hm-2"]}`, { resource_state: "Disabled" })).status).toBe(200);
    const r = await refused("DELETE", `/v1/admin/hosts/${ids["hm-2"]}`, undefined, 409, /still holds VMs \d+ \(Running\)(, \d+ \(Running\)){3}: move or delete them first/);
    expect(r.json.message).toContain(`host ${ids["hm-2"]} still holds`);
    expect((await cloud.api("PUT", `/v1/admin/hosts/${ids["hm-2"]}`, { resource_state: "Enabled" })).status).toBe(200);
  });

  it("removes an empty disabled host: gone from lists, its agent refused at reconnect with UNAUTHENTICATED saying why", async () => {
    const uuid = randomUUID();
    const reg = await register(facts(uuid));
    expect(await openStream(uuid, reg.hostSecret)).toBe("answered");
    const host = await cloud.waitFor("listed", async () => (await cloud.api("GET", "/v1/admin/hosts")).json.hosts.find((h: any) => h.uuid === uuid));
    await refused("DELETE", `/v1/admin/hosts/${host.id}`, undefined, 409, /is Enabled and (Up|Connecting)/);
    expect((await cloud.api("PUT", `/v1/admin/hosts/${host.id}`, { resource_state: "Disabled" })).status).toBe(200);
    const r = await cloud.api("DELETE", `/v1/admin/hosts/${host.id}`);
    expect(r.status, JSON.stringify(r.json)).toBe(200);
    expect(r.json.host).toEqual({ id: host.id, uuid, revoked: [] });
    expect((await cloud.api("GET", "/v1/admin/hosts")).json.hosts.some((h: any) => h.uuid === uuid)).toBe(false);
    expect(await openStream(uuid, reg.hostSecret)).toEqual({
      code: grpc.status.UNAUTHENTICATED, details: `host ${uuid} was removed from this manager by an admin; it may only join again with a new join token`,
    });
    await refused("DELETE", `/v1/admin/hosts/${host.id}`, undefined, 404, /not found/);
    await refused("POST", `/v1/admin/hosts/${host.id}/maintenance`, {}, 404, /not found/);
    await refused("PUT", `/v1/admin/hosts/${host.id}`, { resource_state: "Enabled" }, 404, /not found/);
  });
});
