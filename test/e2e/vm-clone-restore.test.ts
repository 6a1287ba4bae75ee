// Reinstall (POST .../restore), clone and reset-ssh-key through manager → gRPC → agent →
// simulator: each action's success with what the host did to the VM's disk or seed, and each
// refusal (404, 400, 409 naming the state) with nothing changed.
import { asc, eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { callbackDeliveries, images, jobs, vms } from "../../manager/src/db/schema.js";
import { KEYS } from "../../manager/src/keypairs/testing/ssh-key-fixtures.js";
import { createUserKey, errorShapeProblems, jobsIdle, startTestCloud, stateDigest, type TestCloud } from "./harness.js";

let cloud: TestCloud;
let alice: string;
let bob: string;
let srcId: number;
let srcUuid: string;

const HOST_UUID = "75000000-0000-4000-8000-000000000001";
const db = () => cloud.manager.database.db;
const hv = () => cloud.fleet.hypervisors[0]!;

beforeAll(async () => {
  cloud = await startTestCloud({ hosts: [{ hostname: "clone-a", uuid: HOST_UUID, cpus: 16, memoryMib: 32768 }] });
  await cloud.waitFor("host up", async () => (await cloud.api("GET", "/v1/admin/hosts")).json.hosts?.[0]?.state === "Up");
  // The simulator's images have no file; with one, VMs get a root disk of their own the host makes.
  for (const img of await db().select().from(images)) {
    await db().update(images).set({ path: `/images/${img.id}.qcow2` }).where(eq(images.id, img.id));
  }
  alice = await createUserKey(cloud, "clone-alice");
  bob = await createUserKey(cloud, "clone-bob");
  const created = await cloud.api("POST", "/v1/core/virtual-machines", {
    name: "src", flavor_name: "n1-cpu-small", image_name: "Debian 12", labels: ["tier=web"],
  }, alice);
  expect(created.status, JSON.stringify(created.json)).toBe(200);
  srcId = created.json.instances[0].id;
  srcUuid = created.json.instances[0].uuid ?? (await db().select().from(vms).where(eq(vms.id, srcId)))[0]!.uuid;
  await jobsIdle(cloud);
  expect(await instance(srcId)).toMatchObject({ status: "ACTIVE" });
}, 120_000);
afterAll(async () => { await cloud?.stop(); });

async function instance(id: number, key = alice) {
  return (await cloud.api("GET", `/v1/core/virtual-machines/${id}`, undefined, key)).json.instance;
}

/** Everything the actions could change: the harness's digest and the VM rows in full. */
async function digest(): Promise<string> {
  const rows = await db().select().from(vms).orderBy(asc(vms.id));
  return (await stateDigest(cloud)) + JSON.stringify(rows.map((r) => ({ ...r, updatedAt: r.updatedAt.getTime() })));
}

async function refused(method: string, path: string, body: unknown, status: number, key = alice) {
  const before = await digest();
  const r = await cloud.api(method, path, body, key);
  expect(r.status, JSON.stringify(r.json)).toBe(status);
  expect(errorShapeProblems(r.status, r.json)).toEqual([]);
  await jobsIdle(cloud);
  expect(await digest()).toBe(before);
  return r.json as { message: string; error_reason?: string };
}

async function jobSucceeded(jobId: number) {
  await jobsIdle(cloud);
  const [job] = await db().select().from(jobs).where(eq(jobs.id, jobId));
  expect(job?.status, JSON.stringify(job?.error)).toBe("succeeded");
  return job!;
}

async function power(id: number, action: "stop" | "start" | "hibernate" | "hibernate-restore") {
  const r = await cloud.api("POST", `/v1/core/virtual-machines/${id}/${action}`, undefined, alice);
  expect(r.status, JSON.stringify(r.json)).toBe(200);
  await jobSucceeded(r.json.job_id);
}

const imageId = async (name: string) => (await db().select().from(images).where(eq(images.name, name)))[0]!;

describe("restore (reinstall)", () => {
  it("makes a running VM's root disk afresh on its image and starts it again", async () => {
    const before = hv().ownedDiskOf(srcUuid, "root");
    expect(before).toMatchObject({ origin: "overlay", from: (await imageId("Debian 12")).path });
    const r = await cloud.api("POST", `/v1/core/virtual-machines/${srcId}/restore`, undefined, alice);
    expect(r.status, JSON.stringify(r.json)).toBe(200);
    expect(r.json).toMatchObject({ status: true, instance_status: "REBUILDING", image_name: "Debian 12" });
    const job = await jobSucceeded(r.json.job_id);
    expect(job.kind).toBe("vm.reinstall-and-start");
    expect(job.result).toMatchObject({ image_name: "Debian 12" });
    const after = hv().ownedDiskOf(srcUuid, "root");
    expect(after).toMatchObject({ origin: "overlay", from: before!.from });
    expect(after!.content).not.toBe(before!.content);
    expect(await instance(srcId)).toMatchObject({ status: "ACTIVE", image: { name: "Debian 12" } });
    const events = (await cloud.api("GET", `/v1/core/virtual-machines/${srcId}/events`, undefined, alice)).json;
    expect(JSON.stringify(events)).toContain("reinstall-and-start");
  });

  it("reinstalls a stopped VM from another image of its region, leaving it stopped with that image", async () => {
    await power(srcId, "stop");
    const ubuntu = await imageId("Ubuntu Server 24.04 LTS");
    const debian = await imageId("Debian 12");
    expect(ubuntu.regionName).toBe(debian.regionName);
    const r = await cloud.api("POST", `/v1/core/virtual-machines/${srcId}/restore`, { image_name: ubuntu.name }, alice);
    expect(r.status, JSON.stringify(r.json)).toBe(200);
    expect(r.json.image_name).toBe(ubuntu.name);
    expect((await jobSucceeded(r.json.job_id)).kind).toBe("vm.reinstall");
    expect(hv().ownedDiskOf(srcUuid, "root")).toMatchObject({ origin: "overlay", from: ubuntu.path });
    expect(await instance(srcId)).toMatchObject({ status: "SHUTOFF", image: { name: ubuntu.name } });
  });

  it("refuses an unknown image (404), another region's (400), another account's VM (404), changing nothing", async () => {
    await db().insert(images).values({ name: "Far Away Linux", regionName: "FAR-1", path: "/images/far.qcow2" });
    const unknown = await refused("POST", `/v1/core/virtual-machines/${srcId}/restore`, { image_name: "No Such Image" }, 404);
    expect(unknown.message).toContain("No Such Image");
    const far = await refused("POST", `/v1/core/virtual-machines/${srcId}/restore`, { image_name: "Far Away Linux" }, 400);
    expect(far.message).toContain("region");
    await refused("POST", `/v1/core/virtual-machines/${srcId}/restore`, {}, 404, bob);
    await refused("POST", `/v1/core/virtual-machines/${srcId}/restore`, { image_name: "" }, 400);
    await refused("POST", `/v1/core/virtual-machines/${srcId}/restore`, { image: "x" }, 400);
  });

  it("refuses a VM that is neither running nor stopped with a 409 naming its state", async () => {
    await power(srcId, "start");
    await power(srcId, "hibernate");
    const r = await refused("POST", `/v1/core/virtual-machines/${srcId}/restore`, {}, 409);
    expect(r.message).toContain("while Hibernated");
    await power(srcId, "hibernate-restore");
  });
});

describe("clone", () => {
  let cloneId: number;

  it("refuses a running source with a 409 naming its state and why", async () => {
    expect(await instance(srcId)).toMatchObject({ status: "ACTIVE" });
    const r = await refused("POST", `/v1/core/virtual-machines/${srcId}/clone`, { name: "copy" }, 409);
    expect(r.message).toContain("while Running");
    expect(r.message).toContain("snapshots");
  });

  it("copies a stopped VM's disk in full into a new VM on the same host, left stopped when asked", async () => {
    await power(srcId, "stop");
    const rule = { direction: "ingress", ethertype: "IPv4", protocol: "tcp", port_range_min: 22, port_range_max: 22, remote_ip_prefix: "0.0.0.0/0" };
    expect((await cloud.api("POST", `/v1/core/virtual-machines/${srcId}/sg-rules`, rule, alice)).status).toBe(200);
    const r = await cloud.api("POST", `/v1/core/virtual-machines/${srcId}/clone`, { name: "copy", start: false }, alice);
    expect(r.status, JSON.stringify(r.json)).toBe(200);
    // The source's firewall comes with it.
    expect(r.json.instance.security_rules).toEqual([expect.objectContaining(rule)]);
    const src = await instance(srcId);
    expect(r.json.instance).toMatchObject({ name: "copy", flavor: { name: src.flavor.name }, image: { name: src.image.name }, labels: src.labels });
    // Its own address on the same network, never the source's.
    expect(r.json.instance.fixed_ip).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
    expect(r.json.instance.fixed_ip).not.toBe(src.fixed_ip);
    cloneId = r.json.instance.id;
    const job = await jobSucceeded(r.json.job_id);
    expect(job).toMatchObject({ kind: "vm.clone", vmId: cloneId, result: { cloned_from: srcId } });
    const [row] = await db().select().from(vms).where(eq(vms.id, cloneId));
    const [srcRow] = await db().select().from(vms).where(eq(vms.id, srcId));
    expect(row).toMatchObject({ hostId: srcRow!.hostId, clonedFromVmId: srcId, environmentId: srcRow!.environmentId, state: "Stopped" });
    const copied = hv().ownedDiskOf(row!.uuid, "root");
    expect(copied).toMatchObject({ origin: "copy", from: `${srcUuid}/root`, content: hv().ownedDiskOf(srcUuid, "root")!.content });
    expect(await instance(cloneId)).toMatchObject({ status: "SHUTOFF" });
    // Its own disk from now on: a start boots it as it is.
    await power(cloneId, "start");
    expect(await instance(cloneId)).toMatchObject({ status: "ACTIVE" });
    expect(hv().ownedDiskOf(row!.uuid, "root")).toEqual(copied);
  });

  it("starts the clone by default", async () => {
    const r = await cloud.api("POST", `/v1/core/virtual-machines/${srcId}/clone`, { name: "copy-2" }, alice);
    expect(r.status, JSON.stringify(r.json)).toBe(200);
    expect((await jobSucceeded(r.json.job_id)).kind).toBe("vm.clone-and-start");
    expect(await instance(r.json.instance.id)).toMatchObject({ status: "ACTIVE" });
  });

  it("keeps the source stopped while a clone's job has its disk to copy (409 naming the clone)", async () => {
    // A clone job still running (as one that waits for its host), for the first clone.
    const [copying] = await db().insert(jobs).values({
      uuid: "75000000-0000-4000-8000-0000000000aa", kind: "vm.clone", vmId: cloneId, accountId: (await db().select().from(vms).where(eq(vms.id, srcId)))[0]!.accountId, status: "running",
    }).returning();
    const before = await digest();
    const r = await cloud.api("POST", `/v1/core/virtual-machines/${srcId}/start`, undefined, alice);
    expect(r.status, JSON.stringify(r.json)).toBe(409);
    expect(r.json.message).toContain(`being copied to its clone ${cloneId}`);
    expect(await digest()).toBe(before);
    await db().update(jobs).set({ status: "succeeded", finishedAt: new Date() }).where(eq(jobs.id, copying!.id));
  });

  it("refuses a bad body (400), another account's VM (404), a host that cannot take it (409 with the placement's reasons), the account's limits (403), changing nothing", async () => {
    await refused("POST", `/v1/core/virtual-machines/${srcId}/clone`, {}, 400);
    await refused("POST", `/v1/core/virtual-machines/${srcId}/clone`, { name: "bad name!" }, 400);
    await refused("POST", `/v1/core/virtual-machines/${srcId}/clone`, { name: "copy-b" }, 404, bob);
    await refused("POST", "/v1/core/virtual-machines/999999/clone", { name: "copy-b" }, 404);
    const [srcRow] = await db().select().from(vms).where(eq(vms.id, srcId));
    expect((await cloud.api("PUT", `/v1/admin/hosts/${srcRow!.hostId}`, { resource_state: "Disabled" })).status).toBe(200);
    const full = await refused("POST", `/v1/core/virtual-machines/${srcId}/clone`, { name: "copy-c" }, 409);
    expect(full.error_reason).toBe("insufficient_capacity");
    expect((await cloud.api("PUT", `/v1/admin/hosts/${srcRow!.hostId}`, { resource_state: "Enabled" })).status).toBe(200);
    const held = (await db().select().from(vms).where(eq(vms.accountId, srcRow!.accountId))).length;
    expect((await cloud.api("PUT", `/v1/admin/accounts/${srcRow!.accountId}`, { limits: { vms: held } })).status).toBe(200);
    // As for a create: the limit is the account's, a 403 naming it.
    const limited = await refused("POST", `/v1/core/virtual-machines/${srcId}/clone`, { name: "copy-d" }, 403);
    expect(limited.message).toMatch(/limit/i);
    expect((await cloud.api("PUT", `/v1/admin/accounts/${srcRow!.accountId}`, { limits: { vms: null } })).status).toBe(200);
  });
});

describe("reset-ssh-key", () => {
  it("refuses a running VM (409 naming the state), an unknown key pair (404) and another account's VM (404), changing nothing", async () => {
    const env = (await instance(srcId)).environment.name;
    const imported = await cloud.api("POST", "/v1/core/keypairs", { environment_name: env, name: "laptop", public_key: KEYS.ed25519.line }, alice);
    expect(imported.status, JSON.stringify(imported.json)).toBe(200);
    await power(srcId, "start");
    const running = await refused("POST", `/v1/core/virtual-machines/${srcId}/reset-ssh-key`, { key_name: "laptop" }, 409);
    expect(running.message).toContain("while Running");
    await power(srcId, "stop");
    const unknown = await refused("POST", `/v1/core/virtual-machines/${srcId}/reset-ssh-key`, { key_name: "nope" }, 404);
    expect(unknown.message).toContain("nope");
    await refused("POST", `/v1/core/virtual-machines/${srcId}/reset-ssh-key`, { key_name: "laptop" }, 404, bob);
    await refused("POST", `/v1/core/virtual-machines/${srcId}/reset-ssh-key`, {}, 400);
  });

  it("puts the key on a stopped VM; its next boot's seed carries it with a new instance-id", async () => {
    const before = hv().specOf(srcUuid);
    // A callback URL (nothing listens: the deliveries are only queued) to see the action announced.
    await db().update(vms).set({ callbackUrl: "http://127.0.0.1:9/orbit-callback" }).where(eq(vms.id, srcId));
    const r = await cloud.api("POST", `/v1/core/virtual-machines/${srcId}/reset-ssh-key`, { key_name: "laptop" }, alice);
    expect(r.status, JSON.stringify(r.json)).toBe(200);
    expect(r.json).toMatchObject({ status: true, key_name: "laptop" });
    const [job] = await db().select().from(jobs).where(eq(jobs.id, r.json.job_id));
    expect(job).toMatchObject({ kind: "vm.reset-ssh-key", status: "succeeded", result: { key_name: "laptop" } });
    const announced = (await db().select().from(callbackDeliveries).where(eq(callbackDeliveries.vmId, srcId))).map((d) => d.eventId);
    expect(announced).toEqual(expect.arrayContaining([`job:${job!.id}:requested`, `job:${job!.id}:succeeded`]));
    expect(await instance(srcId)).toMatchObject({ status: "SHUTOFF", keypair: { name: "laptop" } });
    const events = JSON.stringify((await cloud.api("GET", `/v1/core/virtual-machines/${srcId}/events`, undefined, alice)).json);
    expect(events).toContain("reset-ssh-key");
    await power(srcId, "start");
    const seed = hv().specOf(srcUuid)!.cloudInit!;
    expect(seed.sshAuthorizedKeys).toEqual([KEYS.ed25519.line]);
    expect(seed.instanceId).not.toBe("");
    expect(seed.instanceId).not.toBe(before?.cloudInit?.instanceId ?? "");
    expect(seed.instanceId).not.toBe(srcUuid);
  });
});
