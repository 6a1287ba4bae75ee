// Regions and environments through the HTTP API: Hyperstack's routes and shapes, environments per
// account (another account's is 404), a VM placed in its environment's region, delete refused
// while VMs or key pairs are in it, and the admin's region create.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { KEYS } from "../../manager/src/keypairs/testing/ssh-key-fixtures.js";
import { environments, regions } from "../../manager/src/db/schema.js";
import { createUserKey, errorShapeProblems, stateDigest as fleetDigest, startTestCloud, type TestCloud } from "./harness.js";

let cloud: TestCloud;
let alice: string;
let bob: string;

const TINY = { flavor_name: "t1-tiny", image_name: "Debian 12" };
const FEATURES = { network_optimised: false, green_status: "NOT_GREEN" };

beforeAll(async () => {
  cloud = await startTestCloud({
    hosts: [
      { hostname: "env-a", uuid: "e0000000-0000-4000-8000-0000000000a1", cpus: 8, memoryMib: 16384, environment: "CANADA-1" },
      { hostname: "env-b", uuid: "e0000000-0000-4000-8000-0000000000b1", cpus: 8, memoryMib: 16384, environment: "NORWAY-1" },
    ],
  });
  alice = await createUserKey(cloud, "env-alice");
  bob = await createUserKey(cloud, "env-bob");
  await cloud.waitFor("both hosts", async () => (await cloud.api("GET", "/v1/admin/hosts")).json.hosts?.length === 2);
}, 120_000);
afterAll(async () => { await cloud?.stop(); });

/** The harness's digest, with regions and environments (which it does not cover). */
async function stateDigest(c: TestCloud): Promise<string> {
  const db = c.manager.database.db;
  return JSON.stringify([await fleetDigest(c), await db.select().from(regions).orderBy(regions.id), await db.select().from(environments).orderBy(environments.id)]);
}

function expectError(r: { status: number; json: Record<string, any> }, status: number, field?: string): void {
  expect(r.status, JSON.stringify(r.json)).toBe(status);
  expect(errorShapeProblems(r.status, r.json)).toEqual([]);
  if (field !== undefined) expect(r.json.field).toBe(field);
}

describe("regions", () => {
  it("lists the regions hosts registered into (and the default one) in Hyperstack's shape; admins create more", async () => {
    const r = await cloud.api("GET", "/v1/core/regions", undefined, alice);
    expect(r.status).toBe(200);
    expect(r.json.regions.map((x: { name: string }) => x.name).sort()).toEqual(["CANADA-1", "NORWAY-1", "default"]);
    for (const region of r.json.regions) {
      expect(region).toEqual({ id: expect.any(Number), name: expect.any(String), description: "", country: "", green_status: "NOT_GREEN", features: {} });
    }
    expectError(await cloud.api("POST", "/v1/admin/regions", { name: "ICELAND-1" }, alice), 403);
    const created = await cloud.api("POST", "/v1/admin/regions", { name: "ICELAND-1", description: "cold" });
    expect(created.status, JSON.stringify(created.json)).toBe(201);
    expect(created.json.region).toMatchObject({ name: "ICELAND-1", description: "cold" });
    expectError(await cloud.api("POST", "/v1/admin/regions", { name: "ICELAND-1" }), 409);
    expectError(await cloud.api("POST", "/v1/admin/regions", { name: "bad name" }), 400, "name");
  });
});

describe("environments", () => {
  it("creates, lists, searches, gets, renames and deletes the caller's environments", async () => {
    const created = await cloud.api("POST", "/v1/core/environments", { name: "staging", region: "NORWAY-1" }, alice);
    expect(created.status, JSON.stringify(created.json)).toBe(200);
    const env = created.json.environment;
    expect(env).toEqual({ id: expect.any(Number), name: "staging", region: "NORWAY-1", features: FEATURES, created_at: expect.any(String) });
    await cloud.api("POST", "/v1/core/environments", { name: "prod", region: "CANADA-1" }, alice);

    const list = await cloud.api("GET", "/v1/core/environments", undefined, alice);
    expect(list.json).toMatchObject({ status: true, count: 2, page: 1, page_size: 50 });
    expect(list.json.environments.map((e: { name: string }) => e.name)).toEqual(["staging", "prod"]);
    const paged = await cloud.api("GET", "/v1/core/environments?page=2&pageSize=1", undefined, alice);
    expect(paged.json).toMatchObject({ count: 2, page: 2, page_size: 1, environments: [{ name: "prod" }] });
    const byRegion = await cloud.api("GET", "/v1/core/environments?search=norway", undefined, alice);
    expect(byRegion.json.environments.map((e: { name: string }) => e.name)).toEqual(["staging"]);
    // The id matches too (and so does any name or region containing its digits).
    const byId = await cloud.api("GET", `/v1/core/environments?search=${env.id}`, undefined, alice);
    expect(byId.json.environments.map((e: { name: string }) => e.name)).toContain("staging");
    expect((await cloud.api("GET", "/v1/core/environments?search=nothing-like-it", undefined, alice)).json).toMatchObject({ count: 0, environments: [] });

    expect((await cloud.api("GET", `/v1/core/environments/${env.id}`, undefined, alice)).json.environment).toEqual(env);
    const renamed = await cloud.api("PUT", `/v1/core/environments/${env.id}`, { name: "staging-2" }, alice);
    expect(renamed.json.environment).toEqual({ ...env, name: "staging-2" });
    expectError(await cloud.api("PUT", `/v1/core/environments/${env.id}`, { name: "prod" }, alice), 409);

    const deleted = await cloud.api("DELETE", `/v1/core/environments/${env.id}`, undefined, alice);
    expect(deleted.json).toEqual({ status: true, message: expect.any(String) });
    expectError(await cloud.api("GET", `/v1/core/environments/${env.id}`, undefined, alice), 404);
  });

  it("refuses bad input with a 4xx naming the field, changing nothing", async () => {
    const before = await stateDigest(cloud);
    expectError(await cloud.api("POST", "/v1/core/environments", { name: "x", region: "MARS-1" }, alice), 404, "region");
    expectError(await cloud.api("POST", "/v1/core/environments", { name: "", region: "CANADA-1" }, alice), 400, "name");
    expectError(await cloud.api("POST", "/v1/core/environments", { name: "a".repeat(51), region: "CANADA-1" }, alice), 400, "name");
    expectError(await cloud.api("POST", "/v1/core/environments", { name: "x" }, alice), 400, "region");
    expectError(await cloud.api("POST", "/v1/core/environments", { name: "x", region: "CANADA-1", extra: 1 }, alice), 400);
    expectError(await cloud.api("GET", "/v1/core/environments?pageSize=0", undefined, alice), 400, "pageSize");
    expectError(await cloud.api("PUT", "/v1/core/environments/1", {}, alice), 400, "name");
    expect(await stateDigest(cloud)).toBe(before);
  });

  it("keeps names per account, and answers another account's environment with 404 on every route", async () => {
    const mine = (await cloud.api("POST", "/v1/core/environments", { name: "shared-name", region: "CANADA-1" }, alice)).json.environment;
    const theirs = await cloud.api("POST", "/v1/core/environments", { name: "shared-name", region: "CANADA-1" }, bob);
    expect(theirs.status).toBe(200);
    expectError(await cloud.api("POST", "/v1/core/environments", { name: "shared-name", region: "NORWAY-1" }, alice), 409);
    for (const [method, body] of [["GET", undefined], ["PUT", { name: "stolen" }], ["DELETE", undefined]] as const) {
      expectError(await cloud.api(method, `/v1/core/environments/${mine.id}`, body, bob), 404);
    }
    expect((await cloud.api("GET", "/v1/core/environments", undefined, bob)).json.environments.map((e: { id: number }) => e.id)).not.toContain(mine.id);
    expect((await cloud.api("GET", `/v1/core/environments/${mine.id}`, undefined, alice)).json.environment.name).toBe("shared-name");
  });

  it("places a VM on hosts of its environment's region, and refuses deleting an environment that holds VMs or key pairs", async () => {
    const env = (await cloud.api("POST", "/v1/core/environments", { name: "gpu-work", region: "NORWAY-1" }, alice)).json.environment;
    const vm = await cloud.api("POST", "/v1/core/virtual-machines", { name: "in-norway", environment_name: "gpu-work", ...TINY }, alice);
    expect(vm.status, JSON.stringify(vm.json)).toBe(200);
    // Admins see the host; NORWAY-1 has one host, env-b.
    const vmId = vm.json.instances[0].id as number;
    const placed = await cloud.waitFor("VM running", async () => {
      const r = await cloud.api("GET", `/v1/core/virtual-machines/${vmId}`);
      return r.json.instance?.status === "ACTIVE" && r.json.instance;
    });
    expect(placed.host).toBe("env-b");

    const kp = await cloud.api("POST", "/v1/core/keypairs", { environment_name: "gpu-work", name: "k", public_key: KEYS.ed25519.line }, alice);
    expect(kp.json.keypair.environment).toEqual(env);

    const before = await stateDigest(cloud);
    const refused = await cloud.api("DELETE", `/v1/core/environments/${env.id}`, undefined, alice);
    expectError(refused, 409);
    expect(refused.json.message).toMatch(/1 VM\(s\) and 1 key pair\(s\)/);
    expect(await stateDigest(cloud)).toBe(before);
  });

  it("gives each account the environment named after a region on first use (the region's default)", async () => {
    const carol = await createUserKey(cloud, "env-carol");
    const vm = await cloud.api("POST", "/v1/core/virtual-machines", { name: "first", environment_name: "CANADA-1", ...TINY }, carol);
    expect(vm.status, JSON.stringify(vm.json)).toBe(200);
    const envs = (await cloud.api("GET", "/v1/core/environments", undefined, carol)).json.environments;
    expect(envs).toEqual([{ id: expect.any(Number), name: "CANADA-1", region: "CANADA-1", features: FEATURES, created_at: expect.any(String) }]);
    const unknown = await cloud.api("POST", "/v1/core/virtual-machines", { name: "nowhere", environment_name: "MARS-1", ...TINY }, carol);
    expectError(unknown, 400, "environment_name");
  });
});

describe("environment name availability and VM quota", () => {
  it("says whether the caller's account has an environment of that name", async () => {
    const dave = await createUserKey(cloud, "env-dave");
    const check = async (name: string, key = dave) => {
      const r = await cloud.api("GET", `/v1/core/environments/name-availability/${name}`, undefined, key);
      expect(r.status, JSON.stringify(r.json)).toBe(200);
      return r.json;
    };
    expect(await check("lab")).toEqual({ status: true, message: "Name is available", name: "lab", available: true });
    expect((await cloud.api("POST", "/v1/core/environments", { name: "lab", region: "CANADA-1" }, dave)).status).toBe(200);
    expect(await check("lab")).toMatchObject({ name: "lab", available: false });
    expect((await check("lab")).message).toMatch(/already has an environment named "lab"/);
    // Names are per account.
    expect(await check("lab", bob)).toMatchObject({ available: true });
  });

  it("answers Hyperstack's VM_Quota from the account's limits and the region's stock, and changes after a create", async () => {
    const erin = await createUserKey(cloud, "env-erin");
    const env = (await cloud.api("POST", "/v1/core/environments", { name: "quota", region: "CANADA-1" }, erin)).json.environment;
    const quota = async () => {
      const r = await cloud.api("GET", `/v1/core/environments/${env.id}/vm-quota`, undefined, erin);
      expect(r.status, JSON.stringify(r.json)).toBe(200);
      return r.json;
    };
    const room = (q: Record<string, any>, flavor: string) => (q.flavors as { name: string; available_vms: number }[]).find((f) => f.name === flavor)!.available_vms;
    const empty = await quota();
    expect(empty).toMatchObject({ status: true, current_vms: 0, cidr: "", percentage_used: 0 });
    expect(empty.max_vms).toBe(empty.available_vms);
    // env-a has 8 CPUs and 16 GiB: no H100 fits, some tiny ones do, and the total is the most of any flavor.
    expect(room(empty, "n3-H100x1")).toBe(0);
    expect(room(empty, "t1-tiny")).toBeGreaterThan(1);
    expect(empty.available_vms).toBe(Math.max(...empty.flavors.map((f: { available_vms: number }) => f.available_vms)));

    const vm = await cloud.api("POST", "/v1/core/virtual-machines", { name: "q1", environment_name: "quota", ...TINY }, erin);
    expect(vm.status, JSON.stringify(vm.json)).toBe(200);
    const one = await cloud.waitFor("the VM's capacity counted", async () => {
      const q = await quota();
      return q.current_vms === 1 && room(q, "t1-tiny") === room(empty, "t1-tiny") - 1 && q;
    });
    expect(one.percentage_used).toBeCloseTo((100 * 1) / one.max_vms);
    // The first VM made the environment's private network: the quota names it and counts its addresses.
    const network = (await cloud.api("GET", `/v1/admin/environments/${env.id}/network`)).json.network;
    expect(one.cidr).toBe(network.cidr);
    const narrow = await cloud.api("PUT", `/v1/admin/environments/${env.id}/network`, { cidr: "10.250.9.0/29" });
    expect(narrow.status, JSON.stringify(narrow.json)).toBe(409); // addresses in use: the network cannot move
    // A small network caps the quota at its free addresses (a /29: 5 for VMs beside the gateway).
    const small = (await cloud.api("POST", "/v1/core/environments", { name: "quota-small", region: "CANADA-1" }, erin)).json.environment;
    expect((await cloud.api("PUT", `/v1/admin/environments/${small.id}/network`, { cidr: "10.250.9.0/29" })).status).toBe(200);
    const smallQuota = (await cloud.api("GET", `/v1/core/environments/${small.id}/vm-quota`, undefined, erin)).json;
    expect(smallQuota.cidr).toBe("10.250.9.0/29");
    expect(room(smallQuota, "t1-tiny")).toBe(Math.min(5, room(one, "t1-tiny")));

    // An account limit of 3 VMs leaves room for 2 more, whatever the stock.
    const accountId = (await cloud.api("GET", "/v1/admin/accounts")).json.accounts.find((a: { name: string }) => a.name === "env-erin").id;
    const limited = await cloud.api("PUT", `/v1/admin/accounts/${accountId}`, { limits: { vms: 3 } });
    expect(limited.status, JSON.stringify(limited.json)).toBe(200);
    const capped = await quota();
    expect(capped).toMatchObject({ current_vms: 1, available_vms: 2, max_vms: 3 });
    expect(room(capped, "t1-tiny")).toBe(2);
    expect(capped.percentage_used).toBeCloseTo(100 / 3);

    // Another account's environment is not found.
    expectError(await cloud.api("GET", `/v1/core/environments/${env.id}/vm-quota`, undefined, bob), 404);
  });
});
