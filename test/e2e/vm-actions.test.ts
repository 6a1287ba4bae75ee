// VM actions through manager → gRPC → agent → simulator: each power action through its states on
// Hyperstack's routes (GET and POST), a 409 naming the state for an action that makes no sense,
// another account's VM a 404 with nothing changed, labels and rename, capacity kept while a VM is
// stopped or hibernated.
import { eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { allocations, commands, jobs, vms } from "../../manager/src/db/schema.js";
import { createUserKey, errorShapeProblems, jobsIdle, startTestCloud, stateDigest, type TestCloud } from "./harness.js";

let cloud: TestCloud;
let alice: string;
let bob: string;
let vmId: number;

const HOST_UUID = "74000000-0000-4000-8000-000000000001";

beforeAll(async () => {
  cloud = await startTestCloud({ hosts: [{ hostname: "actions-a", uuid: HOST_UUID, cpus: 16, memoryMib: 32768 }] });
  await cloud.waitFor("host up", async () => (await cloud.api("GET", "/v1/admin/hosts")).json.hosts?.[0]?.state === "Up");
  alice = await createUserKey(cloud, "actions-alice");
  bob = await createUserKey(cloud, "actions-bob");
  const created = await cloud.api("POST", "/v1/core/virtual-machines", { name: "act-vm", flavor_name: "n1-cpu-small", image_name: "Debian 12" }, alice);
  expect(created.status).toBe(200);
  vmId = created.json.instances[0].id;
  await jobsIdle(cloud);
  expect(await status()).toBe("ACTIVE");
}, 120_000);
afterAll(async () => { await cloud?.stop(); });

async function status(key = alice): Promise<string> {
  return (await cloud.api("GET", `/v1/core/virtual-machines/${vmId}`, undefined, key)).json.instance.status;
}

async function act(action: string, method = "GET", key = alice) {
  return cloud.api(method, `/v1/core/virtual-machines/${vmId}/${action}`, undefined, key);
}

/** The action is accepted, its job succeeds and the VM ends in `settled`. */
async function runAction(action: string, during: string, settled: string, method = "GET"): Promise<number> {
  const r = await act(action, method);
  expect(r.status, JSON.stringify(r.json)).toBe(200);
  expect(r.json).toMatchObject({ status: true, instance_status: during });
  expect(Number.isInteger(r.json.job_id)).toBe(true);
  await jobsIdle(cloud);
  const [job] = await cloud.manager.database.db.select().from(jobs).where(eq(jobs.id, r.json.job_id));
  expect(job?.status, JSON.stringify(job?.error)).toBe("succeeded");
  expect(await status()).toBe(settled);
  return r.json.job_id;
}

async function expectConflict(action: string, state: string, method = "GET") {
  const before = await stateDigest(cloud);
  const r = await act(action, method);
  expect(r.status, JSON.stringify(r.json)).toBe(409);
  expect(errorShapeProblems(r.status, r.json)).toEqual([]);
  expect(r.json.message).toContain(`while ${state}`);
  expect(await stateDigest(cloud)).toBe(before);
}

const allocation = async () => (await cloud.manager.database.db.select().from(allocations).where(eq(allocations.vmId, vmId)))[0];
/** The command kinds the VM's host answered for a job. */
const commandsOf = async (jobId: number) =>
  (await cloud.manager.database.db.select().from(commands).where(eq(commands.jobId, jobId))).map((c) => [c.kind, c.status]);

describe("power actions", () => {
  it("stops (power off) a running VM, keeps its capacity, refuses a second stop with 409", async () => {
    const alloc = await allocation();
    await runAction("stop", "SHUTTING_DOWN", "SHUTOFF");
    expect(await allocation()).toEqual(alloc);
    await expectConflict("stop", "Stopped");
    for (const a of ["hard-reboot", "hibernate", "hibernate-restore"]) await expectConflict(a, "Stopped");
    await expectConflict("shutdown", "Stopped", "POST");
    await expectConflict("reboot", "Stopped", "POST");
  });

  it("starts a stopped VM (POST accepted as well as GET) and refuses to start it again", async () => {
    const job = await runAction("start", "STARTING", "ACTIVE", "POST");
    expect(await commandsOf(job)).toEqual([["startVm", "succeeded"]]);
    await expectConflict("start", "Running");
    await expectConflict("hibernate-restore", "Running");
  });

  it("shuts a running VM down through ACPI (Orbit's POST .../shutdown)", async () => {
    await runAction("shutdown", "SHUTTING_DOWN", "SHUTOFF", "POST");
    const [vm] = await cloud.manager.database.db.select().from(vms).where(eq(vms.id, vmId));
    expect(vm?.stateReason).toContain("ACPI");
    await runAction("start", "STARTING", "ACTIVE");
  });

  it("hard-reboots and reboots a running VM, which stays ACTIVE", async () => {
    const hard = await runAction("hard-reboot", "ACTIVE", "ACTIVE");
    const soft = await runAction("reboot", "ACTIVE", "ACTIVE", "POST");
    expect(await commandsOf(hard)).toEqual([["rebootVm", "succeeded"]]);
    expect(await commandsOf(soft)).toEqual([["rebootVm", "succeeded"]]);
  });

  it("hibernates a VM (HIBERNATED, capacity kept) and restores it; start also restores", async () => {
    const alloc = await allocation();
    await runAction("hibernate?retain_ip=false", "HIBERNATING", "HIBERNATED");
    expect(await allocation()).toEqual(alloc);
    for (const a of ["stop", "hibernate", "hard-reboot"]) await expectConflict(a, "Hibernated");
    expect(await commandsOf(await runAction("hibernate-restore", "STARTING", "ACTIVE"))).toEqual([["restoreVm", "succeeded"]]);
    await runAction("hibernate", "HIBERNATING", "HIBERNATED", "POST");
    expect(await commandsOf(await runAction("start", "STARTING", "ACTIVE"))).toEqual([["restoreVm", "succeeded"]]);
  });

  it("refuses a hibernate query other than the spec's retain_ip", async () => {
    expect((await act("hibernate?retain_ip=maybe")).status).toBe(400);
    expect((await act("hibernate?other=1")).status).toBe(400);
    expect(await status()).toBe("ACTIVE");
  });

  it("does not offer Orbit's shutdown and reboot as GET", async () => {
    expect((await act("shutdown")).status).toBe(404);
    expect((await act("reboot")).status).toBe(404);
  });
});

describe("labels and name", () => {
  it("replaces the VM's labels", async () => {
    const r = await cloud.api("PUT", `/v1/core/virtual-machines/${vmId}/label`, { labels: ["team-a", "gpu"] }, alice);
    expect(r.status).toBe(200);
    expect((await cloud.api("GET", `/v1/core/virtual-machines/${vmId}`, undefined, alice)).json.instance.labels).toEqual(["team-a", "gpu"]);
    expect((await cloud.api("PUT", `/v1/core/virtual-machines/${vmId}/label`, { labels: [] }, alice)).status).toBe(200);
    expect((await cloud.api("GET", `/v1/core/virtual-machines/${vmId}`, undefined, alice)).json.instance.labels).toEqual([]);
  });

  it("refuses bad label bodies with 400", async () => {
    for (const body of [{}, { labels: "a" }, { labels: [""] }, { labels: ["a\u0000b"] }, { labels: ["a"], extra: 1 }]) {
      const r = await cloud.api("PUT", `/v1/core/virtual-machines/${vmId}/label`, body, alice);
      expect(r.status, JSON.stringify(body)).toBe(400);
    }
  });

  it("renames the VM (Orbit's PUT .../name), refusing a bad name", async () => {
    expect((await cloud.api("PUT", `/v1/core/virtual-machines/${vmId}/name`, { name: "renamed-vm" }, alice)).status).toBe(200);
    expect((await cloud.api("GET", `/v1/core/virtual-machines/${vmId}`, undefined, alice)).json.instance.name).toBe("renamed-vm");
    for (const name of ["", "has space", "x".repeat(51)]) {
      expect((await cloud.api("PUT", `/v1/core/virtual-machines/${vmId}/name`, { name }, alice)).status).toBe(400);
    }
  });
});

describe("another account", () => {
  it("answers 404 on every action for another account's VM, changing nothing", async () => {
    const before = await stateDigest(cloud);
    for (const [method, path] of [
      ["GET", "stop"], ["POST", "start"], ["GET", "hard-reboot"], ["GET", "hibernate"], ["GET", "hibernate-restore"],
      ["POST", "shutdown"], ["POST", "reboot"],
    ] as const) {
      const r = await act(path, method, bob);
      expect(r.status, `${method} ${path}`).toBe(404);
    }
    expect((await cloud.api("PUT", `/v1/core/virtual-machines/${vmId}/label`, { labels: ["x"] }, bob)).status).toBe(404);
    expect((await cloud.api("PUT", `/v1/core/virtual-machines/${vmId}/name`, { name: "stolen" }, bob)).status).toBe(404);
    expect(await stateDigest(cloud)).toBe(before);
    expect((await cloud.api("GET", `/v1/core/virtual-machines/${vmId}`, undefined, alice)).json.instance.name).toBe("renamed-vm");
  });

  it("answers 404 for a VM that does not exist", async () => {
    expect((await cloud.api("GET", "/v1/core/virtual-machines/999999/stop", undefined, alice)).status).toBe(404);
  });
});

describe("resize", () => {
  const resize = (flavor_name: unknown, key = alice) => cloud.api("POST", `/v1/core/virtual-machines/${vmId}/resize`, { flavor_name }, key);

  it("refuses to resize a running VM while dynamic scaling is off (the default): stop it first (409 naming the rule)", async () => {
    expect(await status()).toBe("ACTIVE");
    const before = await stateDigest(cloud);
    const r = await resize("n1-cpu-medium");
    expect(r.status).toBe(409);
    expect(r.json).toMatchObject({ state: "Running", rule: "dynamic_scaling_disabled" });
    expect(r.json.message).toMatch(/is running: dynamic scaling is off .*; stop it to resize it/);
    expect(await stateDigest(cloud)).toBe(before);
  });

  it("refuses a flavor that does not fit on the VM's host, an unknown one, a GPU one and another account's VM, changing nothing", async () => {
    await runAction("stop", "SHUTTING_DOWN", "SHUTOFF");
    const before = await stateDigest(cloud);
    const tooBig = await resize("n1-cpu-large");
    expect(tooBig.status, JSON.stringify(tooBig.json)).toBe(409);
    expect(errorShapeProblems(tooBig.status, tooBig.json)).toEqual([]);
    expect((await resize("no-such-flavor")).status).toBe(400);
    const gpu = await resize("n3-H100x1");
    expect(gpu.status).toBeGreaterThanOrEqual(400);
    expect(gpu.status).toBeLessThan(500);
    expect(gpu.json.message).toMatch(/GPUs is not supported yet/);
    expect((await resize("n1-cpu-small")).status).toBe(400); // its flavor already
    expect((await resize("n1-cpu-medium", bob)).status).toBe(404);
    expect((await cloud.api("POST", `/v1/core/virtual-machines/${vmId}/resize`, {}, alice)).status).toBe(400);
    expect(await stateDigest(cloud)).toBe(before);
  });

  it("resizes a stopped VM: its allocation on the same host moves to the new size, and it starts with it", async () => {
    const old = await allocation();
    const r = await resize("n1-cpu-medium");
    expect(r.status, JSON.stringify(r.json)).toBe(200);
    expect(r.json).toMatchObject({ status: true });
    const moved = await allocation();
    expect(moved).toMatchObject({ hostId: old!.hostId, vcpus: 4, memoryMib: 16 * 1024 });
    const [vm] = await cloud.manager.database.db.select().from(vms).where(eq(vms.id, vmId));
    expect(vm).toMatchObject({ vcpus: 4, memoryMib: 16 * 1024 });
    const shown = (await cloud.api("GET", `/v1/core/virtual-machines/${vmId}`, undefined, alice)).json.instance;
    expect(shown.flavor.name).toBe("n1-cpu-medium");
    const job = await runAction("start", "STARTING", "ACTIVE");
    expect(await commandsOf(job)).toEqual([["startVm", "succeeded"]]);
    // Shrinking back needs no room.
    await runAction("stop", "SHUTTING_DOWN", "SHUTOFF");
    expect((await resize("n1-cpu-small")).status).toBe(200);
    expect(await allocation()).toMatchObject({ vcpus: 2, memoryMib: 4 * 1024 });
  });
});
