// Live resize (CloudStack's dynamic scaling) through manager → gRPC → agent → simulator: a VM
// started while enable.dynamic.scale.vm is true gets headroom (twice its flavor), a running VM is
// resized within it by a vm.scale job, capacity accounted on its host; every refusal is a 409 (or
// 400/404) naming its rule and changing nothing.
import { eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { allocations, commands, jobs, vms } from "../../manager/src/db/schema.js";
import { createUserKey, errorShapeProblems, jobsIdle, startTestCloud, stateDigest, type TestCloud } from "./harness.js";

let cloud: TestCloud;
let alice: string;
let bob: string;
/** Started while dynamic scaling was off: no headroom. */
let cold: number;
/** Started with it on: n1-cpu-small (2 vCPUs, 4 GiB) with room for 4 vCPUs and 8 GiB. */
let hot: number;

/** Flavors of the test, in GiB as the admin API takes them. */
const FLAVORS = [
  { name: "live-4c-8g", cpu: 4, ram: 8, disk: 20 },
  { name: "live-4c-4g", cpu: 4, ram: 4, disk: 20 },
  { name: "live-4c-2g", cpu: 4, ram: 2, disk: 20 },
  { name: "live-6c-8g", cpu: 6, ram: 8, disk: 20 },
  { name: "live-6c-4g", cpu: 6, ram: 4, disk: 20 },
  { name: "live-filler", cpu: 1, ram: 16, disk: 0 },
];

async function create(name: string, flavor = "n1-cpu-small"): Promise<number> {
  const r = await cloud.api("POST", "/v1/core/virtual-machines", { name, flavor_name: flavor, image_name: "Debian 12" }, alice);
  expect(r.status, JSON.stringify(r.json)).toBe(200);
  await jobsIdle(cloud);
  return r.json.instances[0].id;
}
const setDynamicScaling = async (value: boolean) =>
  expect((await cloud.api("PUT", "/v1/admin/settings/enable.dynamic.scale.vm", { value })).status).toBe(200);
const resize = (id: number, flavor_name: unknown, key = alice) => cloud.api("POST", `/v1/core/virtual-machines/${id}/resize`, { flavor_name }, key);
const vmRow = async (id: number) => (await cloud.manager.database.db.select().from(vms).where(eq(vms.id, id)))[0]!;
const allocation = async (id: number) => (await cloud.manager.database.db.select().from(allocations).where(eq(allocations.vmId, id)))[0];
const shownFlavor = async (id: number) => (await cloud.api("GET", `/v1/core/virtual-machines/${id}`, undefined, alice)).json.instance.flavor.name;

/** A 409 naming the rule, in the error shape, with nothing changed. */
async function expectRefused(id: number, flavor: string, rule: string, message: RegExp): Promise<void> {
  const before = await stateDigest(cloud);
  const flavorBefore = await shownFlavor(id);
  const r = await resize(id, flavor);
  expect(r.status, JSON.stringify(r.json)).toBe(409);
  expect(errorShapeProblems(r.status, r.json)).toEqual([]);
  expect(r.json.message).toMatch(message);
  expect(JSON.stringify(r.json)).toContain(`"rule":"${rule}"`);
  expect(await stateDigest(cloud)).toBe(before);
  expect(await shownFlavor(id)).toBe(flavorBefore);
}

/** Accepted with its job, which succeeds with resizeVm commands to the host; the VM stays ACTIVE. */
async function resizedLive(id: number, flavor: string): Promise<string[]> {
  const r = await resize(id, flavor);
  expect(r.status, JSON.stringify(r.json)).toBe(200);
  expect(r.json).toMatchObject({ status: true, message: `Virtual machine is being resized to ${flavor} while it runs`, job_id: expect.any(Number) });
  await jobsIdle(cloud);
  const [job] = await cloud.manager.database.db.select().from(jobs).where(eq(jobs.id, r.json.job_id));
  expect(job, JSON.stringify(job?.error)).toMatchObject({ kind: "vm.scale", status: "succeeded" });
  expect((await cloud.api("GET", `/v1/core/virtual-machines/${id}`, undefined, alice)).json.instance).toMatchObject({ status: "ACTIVE", flavor: { name: flavor } });
  return (await cloud.manager.database.db.select().from(commands).where(eq(commands.jobId, r.json.job_id))).map((c) => `${c.kind}:${c.status}`);
}

beforeAll(async () => {
  cloud = await startTestCloud({ hosts: [{ hostname: "scale-a", uuid: "74100000-0000-4000-8000-000000000001", cpus: 16, memoryMib: 32768 }] });
  await cloud.waitFor("host up", async () => (await cloud.api("GET", "/v1/admin/hosts")).json.hosts?.[0]?.state === "Up");
  alice = await createUserKey(cloud, "scale-alice");
  bob = await createUserKey(cloud, "scale-bob");
  for (const f of FLAVORS) expect((await cloud.api("POST", "/v1/admin/flavors", f)).status).toBe(201);
}, 120_000);
afterAll(async () => { await cloud?.stop(); });

describe("live resize of a running VM", () => {
  it("is off by default (CloudStack's enable.dynamic.scale.vm is false): 409 saying so; a VM started then has no headroom", async () => {
    cold = await create("cold");
    expect(await vmRow(cold)).toMatchObject({ state: "Running", scaleMaxVcpus: 0, scaleMaxMemoryMib: 0 });
    await expectRefused(cold, "live-4c-8g", "dynamic_scaling_disabled", /^virtual machine \d+ is running: dynamic scaling is off \(setting enable\.dynamic\.scale\.vm is false\); stop it to resize it/);
  });

  it("its settings are validated: enable.dynamic.scale.vm is a JSON boolean, scale.retry 0 to 10 (400 naming the setting, nothing changed)", async () => {
    const before = await stateDigest(cloud);
    for (const [name, value, rule] of [
      ...["true", "false", "yes", 1, 0, null].map((v) => ["enable.dynamic.scale.vm", v, /^enable\.dynamic\.scale\.vm: must be true or false \(a JSON boolean\)$/] as const),
      ["scale.retry", 11, /scale\.retry must be between 0 and 10/], ["scale.retry", 1.5, /scale\.retry/],
    ] as const) {
      const r = await cloud.api("PUT", `/v1/admin/settings/${name}`, { value });
      expect(r.status, JSON.stringify(r.json)).toBe(400);
      expect(errorShapeProblems(r.status, r.json)).toEqual([]);
      expect(r.json.message).toMatch(rule);
    }
    expect(await stateDigest(cloud)).toBe(before);
    const listed = (await cloud.api("GET", "/v1/admin/settings")).json.settings as { name: string }[];
    expect(listed.find((x) => x.name === "enable.dynamic.scale.vm")).toMatchObject({ type: "boolean", value: false, default: false, is_default: true });
    expect(listed.find((x) => x.name === "scale.retry")).toMatchObject({ type: "number" });
  });

  it("turned on, a VM started before still has no headroom (409); a stop and start gives it some", async () => {
    await setDynamicScaling(true);
    await expectRefused(cold, "live-4c-8g", "no_headroom", /defined without headroom for live scaling/);
    for (const a of ["stop", "start"]) {
      expect((await cloud.api("GET", `/v1/core/virtual-machines/${cold}/${a}`, undefined, alice)).status).toBe(200);
      await jobsIdle(cloud);
    }
    expect(await vmRow(cold)).toMatchObject({ state: "Running", scaleMaxVcpus: 4, scaleMaxMemoryMib: 8192, scaleMinMemoryMib: 4096 });
  });

  it("a VM deployed with it on has twice its flavor as headroom", async () => {
    hot = await create("hot");
    expect(await vmRow(hot)).toMatchObject({ state: "Running", vcpus: 2, memoryMib: 4096, scaleMaxVcpus: 4, scaleMaxMemoryMib: 8192, scaleMinMemoryMib: 4096 });
  });

  it("refuses other GPUs (stop first), past either maximum, below the boot memory; 400 for an unknown or the same flavor, 404 for another account", async () => {
    await expectRefused(hot, "n3-H100x1", "gpu_change", /has other GPUs, and GPUs change only while the VM is stopped/);
    await expectRefused(hot, "live-6c-8g", "vcpu_headroom", /has 6 vCPUs, more than the 4 its domain was defined to grow to/);
    await expectRefused(hot, "n1-cpu-medium", "memory_headroom", /has 16384 MiB of memory, more than the 8192 MiB its domain was defined to grow to/);
    await expectRefused(hot, "live-4c-2g", "memory_floor", /has 2048 MiB of memory, less than the 4096 MiB it booted with/);
    const before = await stateDigest(cloud);
    const unknown = await resize(hot, "no-such-flavor");
    expect(unknown.status).toBe(400);
    expect(errorShapeProblems(unknown.status, unknown.json)).toEqual([]);
    expect((await resize(hot, "n1-cpu-small")).status).toBe(400);
    expect((await resize(hot, "live-4c-8g", bob)).status).toBe(404);
    expect(await stateDigest(cloud)).toBe(before);
  });

  it("grows within the headroom: capacity moves on the host at once, the job sets the memory then the vCPUs", async () => {
    expect(await resizedLive(hot, "live-4c-8g")).toEqual(["resizeVm:succeeded", "resizeVm:succeeded"]);
    expect(await allocation(hot)).toMatchObject({ vcpus: 4, memoryMib: 8192 });
    expect(await vmRow(hot)).toMatchObject({ vcpus: 4, memoryMib: 8192, scaleMaxVcpus: 4, scaleMaxMemoryMib: 8192 });
  });

  it("refuses removing vCPUs live (unplug needs the guest); gives memory back down to the boot size", async () => {
    await expectRefused(hot, "n1-cpu-small", "vcpu_scale_down", /vCPUs cannot be removed live \(4 → 2\)/);
    expect(await resizedLive(hot, "live-4c-4g")).toEqual(["resizeVm:succeeded"]);
    expect(await allocation(hot)).toMatchObject({ vcpus: 4, memoryMib: 4096 });
  });

  it("refuses when its host has no room for the growth (409: live migration elsewhere is not available yet), the VM unchanged", async () => {
    // Taken by cold (4 GiB), hot (4 GiB) and this: growing cold by 4 GiB passes the cluster's 85% memory threshold.
    await create("filler", "live-filler");
    await expectRefused(cold, "live-4c-8g", "no_room_on_host", /its host has no room for flavor "live-4c-8g" .*live migration to a host with room is not available yet/);
  });

  it("a stopped VM is still resized without a job, past its old headroom: its next start defines the new size with new headroom", async () => {
    expect((await cloud.api("GET", `/v1/core/virtual-machines/${hot}/stop`, undefined, alice)).status).toBe(200);
    await jobsIdle(cloud);
    const r = await resize(hot, "live-6c-4g");
    expect(r.status, JSON.stringify(r.json)).toBe(200);
    expect(r.json).toEqual({ status: true, message: "Virtual machine resized to live-6c-4g" });
    expect((await cloud.api("GET", `/v1/core/virtual-machines/${hot}/start`, undefined, alice)).status).toBe(200);
    await jobsIdle(cloud);
    expect(await vmRow(hot)).toMatchObject({ state: "Running", vcpus: 6, scaleMaxVcpus: 12, scaleMaxMemoryMib: 8192, scaleMinMemoryMib: 4096 });
  });
});
