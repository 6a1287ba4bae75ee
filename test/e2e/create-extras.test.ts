// Orbit's create extras through manager → gRPC → agent → simulator: start false and run strategy
// Halted create a VM that is placed (capacity held) but Stopped (SHUTOFF), and the start action
// runs it; run_strategy and ha_enabled are stored and shown; conflicting or unknown values are
// 400s that change nothing; a delete's CloudSigma recurse is validated and recorded in its job;
// VM name availability.
import { desc, eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { allocations, commands, jobs } from "../../manager/src/db/schema.js";
import { createUserKey, jobsIdle, startTestCloud, stateDigest, type TestCloud } from "./harness.js";

let cloud: TestCloud;
let alice: string;
let bob: string;

beforeAll(async () => {
  cloud = await startTestCloud({ hosts: [{ hostname: "extras-a", uuid: "75000000-0000-4000-8000-000000000001", cpus: 32, memoryMib: 65536 }] });
  await cloud.waitFor("host up", async () => (await cloud.api("GET", "/v1/admin/hosts")).json.hosts?.[0]?.state === "Up");
  alice = await createUserKey(cloud, "extras-alice");
  bob = await createUserKey(cloud, "extras-bob");
}, 120_000);
afterAll(async () => { await cloud?.stop(); });

const VALID = { flavor_name: "n1-cpu-small", image_name: "Debian 12" };

async function create(body: Record<string, unknown>, key = alice) {
  return cloud.api("POST", "/v1/core/virtual-machines", { ...VALID, ...body }, key);
}

async function instance(id: number, key = alice) {
  return (await cloud.api("GET", `/v1/core/virtual-machines/${id}`, undefined, key)).json.instance;
}

/** Commands the manager sent to hosts for this VM. */
async function commandsFor(vmId: number) {
  return cloud.manager.database.db.select({ kind: commands.kind }).from(commands).where(eq(commands.vmId, vmId));
}

describe("created stopped", () => {
  it("start false: placed with its capacity held, SHUTOFF, nothing sent to the host; the start action runs it", async () => {
    const r = await create({ name: "cold-1", start: false });
    expect(r.status, JSON.stringify(r.json)).toBe(200);
    const id = r.json.instances[0].id as number;
    expect(r.json.instances[0]).toMatchObject({ status: "CREATING", run_strategy: null, ha_enabled: false });
    await jobsIdle(cloud);
    const vm = await instance(id);
    expect(vm).toMatchObject({ status: "SHUTOFF", power_state: "SHUTDOWN", vm_state: "stopped", orbit_state: "Stopped" });
    expect(vm.state_reason).toMatch(/created stopped/);
    const [alloc] = await cloud.manager.database.db.select().from(allocations).where(eq(allocations.vmId, id));
    expect(alloc).toMatchObject({ vcpus: 2, memoryMib: 4096 });
    expect(await commandsFor(id)).toEqual([]);
    const [deploy] = await cloud.manager.database.db.select().from(jobs).where(eq(jobs.vmId, id));
    expect(deploy).toMatchObject({ kind: "vm.deploy", status: "succeeded", input: { start: false } });

    const start = await cloud.api("GET", `/v1/core/virtual-machines/${id}/start`, undefined, alice);
    expect(start.status, JSON.stringify(start.json)).toBe(200);
    await jobsIdle(cloud);
    expect(await instance(id)).toMatchObject({ status: "ACTIVE", orbit_state: "Running" });
    expect((await commandsFor(id)).map((c) => c.kind)).toContain("startVm");
  });

  it("run_strategy Halted: created stopped and shown; ha_enabled stored and shown", async () => {
    const r = await create({ name: "halted-1", run_strategy: "Halted", ha_enabled: true });
    expect(r.status, JSON.stringify(r.json)).toBe(200);
    const id = r.json.instances[0].id as number;
    await jobsIdle(cloud);
    expect(await instance(id)).toMatchObject({ status: "SHUTOFF", run_strategy: "Halted", ha_enabled: true });
    const listed = await cloud.api("GET", "/v1/core/virtual-machines?search=halted-1", undefined, alice);
    expect(listed.json.instances[0]).toMatchObject({ id, run_strategy: "Halted", ha_enabled: true });
    // start false with Halted says the same thing twice: accepted.
    const both = await create({ name: "halted-2", run_strategy: "Halted", start: false });
    expect(both.status).toBe(200);
  });

  it.each(["Always", "RerunOnFailure", "Manual"])("run_strategy %s: started as usual, stored and shown", async (rs) => {
    const r = await create({ name: `rs-${rs.toLowerCase()}`, run_strategy: rs });
    expect(r.status, JSON.stringify(r.json)).toBe(200);
    const id = r.json.instances[0].id as number;
    await jobsIdle(cloud);
    expect(await instance(id)).toMatchObject({ status: "ACTIVE", run_strategy: rs, ha_enabled: false });
  });

  it("refusals are 400s naming the field, and leave nothing behind", async () => {
    await jobsIdle(cloud);
    await jobsIdle(cloud);
    const before = await stateDigest(cloud);
    const cases: [Record<string, unknown>, string, RegExp][] = [
      [{ run_strategy: "Halted", start: true }, "start", /start true conflicts with run_strategy "Halted"/],
      [{ run_strategy: "Always", start: false }, "start", /start false conflicts with run_strategy "Always"/],
      [{ run_strategy: "Sometimes" }, "run_strategy", /Always|RerunOnFailure/],
      [{ run_strategy: "halted" }, "run_strategy", /Halted/],
      [{ start: "no" }, "start", /boolean/],
      [{ ha_enabled: 1 }, "ha_enabled", /boolean/],
    ];
    for (const [body, field, message] of cases) {
      const r = await create({ name: "refused", ...body });
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect(r.json.status).toBe(false);
      expect(r.json.field ?? r.json.message, JSON.stringify(body)).toMatch(new RegExp(field));
      expect(r.json.message, JSON.stringify(body)).toMatch(message);
    }
    expect(await stateDigest(cloud)).toBe(before);
  });
});

describe("delete with recurse", () => {
  it("records the recurse asked for in the delete job (none by default); an unknown value is a 400 that changes nothing", async () => {
    const a = await create({ name: "rec-a" });
    const b = await create({ name: "rec-b" });
    await jobsIdle(cloud);
    const [idA, idB] = [a.json.instances[0].id as number, b.json.instances[0].id as number];
    await jobsIdle(cloud);
    const before = await stateDigest(cloud);
    for (const bad of ["yes", "true", "ALL_DRIVES", ""]) {
      const r = await cloud.api("DELETE", `/v1/core/virtual-machines/${idA}?recurse=${bad}`, undefined, alice);
      expect(r.status, bad).toBe(400);
      expect(r.json.message, bad).toMatch(/recurse/);
    }
    expect(await stateDigest(cloud)).toBe(before);

    const withRecurse = await cloud.api("DELETE", `/v1/core/virtual-machines/${idA}?recurse=all_drives`, undefined, alice);
    expect(withRecurse.status, JSON.stringify(withRecurse.json)).toBe(200);
    const plain = await cloud.api("DELETE", `/v1/core/virtual-machines/${idB}`, undefined, alice);
    expect(plain.status).toBe(200);
    await jobsIdle(cloud);
    const destroyJob = async (vmId: number) => (await cloud.manager.database.db.select().from(jobs)
      .where(eq(jobs.vmId, vmId)).orderBy(desc(jobs.id)).limit(1))[0];
    expect(await destroyJob(idA)).toMatchObject({ kind: "vm.destroy", status: "succeeded", input: { recurse: "all_drives" } });
    expect(await destroyJob(idB)).toMatchObject({ kind: "vm.destroy", status: "succeeded", input: { recurse: "none" } });
  });
});

describe("VM name availability", () => {
  it("says whether the caller's live VMs use the name (or NAME-1..NAME-N with count)", async () => {
    const r = await create({ name: "taken-name", count: 2 });
    expect(r.status).toBe(200);
    const check = async (path: string, key = alice) => {
      const res = await cloud.api("GET", `/v1/core/virtual-machines/name-availability/${path}`, undefined, key);
      expect(res.status, JSON.stringify(res.json)).toBe(200);
      return res.json;
    };
    expect(await check("taken-name")).toMatchObject({ status: true, name: "taken-name", available: true });
    expect(await check("taken-name?count=2")).toMatchObject({ available: false });
    expect((await check("taken-name?count=3")).message).toMatch(/"taken-name-1", "taken-name-2"/);
    expect(await check("taken-name-1")).toMatchObject({ available: false });
    // Another account's VMs do not take a name from this one.
    expect(await check("taken-name-1", bob)).toMatchObject({ available: true });
    expect((await cloud.api("GET", "/v1/core/virtual-machines/name-availability/x?count=0", undefined, alice)).status).toBe(400);
    // A deleted VM gives its name back.
    await cloud.api("DELETE", `/v1/core/virtual-machines/${r.json.instances[0].id}`, undefined, alice);
    await jobsIdle(cloud);
    expect(await check("taken-name-1")).toMatchObject({ available: true });
  });
});

describe("flavor labels and features", () => {
  it("admins set them; /v1/core/flavors and the instance's flavor show them as the spec types them", async () => {
    const made = await cloud.api("POST", "/v1/admin/flavors", { name: "lab-gpu", cpu: 2, ram: 4, labels: ["nvlink", "beta"], features: { network_optimised: false } });
    expect(made.status, JSON.stringify(made.json)).toBe(201);
    const id = made.json.flavor.id as number;
    expect(made.json.flavor).toMatchObject({ labels: [{ id: expect.any(Number), label: "nvlink" }, { id: expect.any(Number), label: "beta" }], features: { network_optimised: false } });
    const nvlinkId = made.json.flavor.labels[0].id as number;

    // Replacing the list keeps the ids of labels that stay.
    const changed = await cloud.api("PUT", `/v1/admin/flavors/${id}`, { labels: ["nvlink", "ga"], features: { network_optimised: true } });
    expect(changed.status, JSON.stringify(changed.json)).toBe(200);
    expect(changed.json.flavor.labels.map((l: { label: string }) => l.label)).toEqual(["nvlink", "ga"]);
    expect(changed.json.flavor.labels[0].id).toBe(nvlinkId);

    const listed = (await cloud.api("GET", "/v1/core/flavors", undefined, alice)).json.data
      .flatMap((g: { flavors: unknown[] }) => g.flavors).find((f: { id: number }) => f.id === id);
    expect(listed).toMatchObject({ labels: [{ id: nvlinkId, label: "nvlink" }, { label: "ga" }], features: { network_optimised: true } });
    // The seeded GPU flavors carry the feature the spec names.
    const h100 = (await cloud.api("GET", "/v1/core/flavors", undefined, alice)).json.data
      .flatMap((g: { flavors: { name: string }[] }) => g.flavors).find((f: { name: string }) => f.name === "n3-H100x1");
    expect(h100.features).toEqual({ network_optimised: false });

    const vm = await create({ name: "labelled", flavor_name: "lab-gpu" });
    expect(vm.status, JSON.stringify(vm.json)).toBe(200);
    expect(vm.json.instances[0].flavor).toMatchObject({ labels: [{ id: nvlinkId, label: "nvlink" }, { label: "ga" }], features: { network_optimised: true } });

    const cleared = await cloud.api("PUT", `/v1/admin/flavors/${id}`, { labels: [], features: {} });
    expect(cleared.json.flavor).toMatchObject({ labels: [], features: {} });
  });

  it("refuses bad labels and features with a 400, changing nothing", async () => {
    await jobsIdle(cloud);
    const before = await stateDigest(cloud);
    for (const body of [
      { labels: ["dup", "dup"] }, { labels: [""] }, { labels: "nvlink" },
      { features: { network_optimised: "yes" } }, { features: { "Bad Key": true } }, { features: ["network_optimised"] },
    ]) {
      const r = await cloud.api("POST", "/v1/admin/flavors", { name: "bad-flavor", cpu: 1, ram: 1, ...body });
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect(r.json.status).toBe(false);
    }
    expect(await stateDigest(cloud)).toBe(before);
    expect((await cloud.api("GET", "/v1/admin/flavors")).json.flavors.some((f: { name: string }) => f.name === "bad-flavor")).toBe(false);
  });
});
