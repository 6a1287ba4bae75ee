// VM snapshots through the API on simulated hosts (issue 14): create with and without memory,
// list per VM and per account, get, name availability, revert (a memory snapshot leaves the VM
// Running, another Stopped), delete; and CloudStack's rules, each a 4xx naming the problem that
// changes nothing: vmsnapshot.max, one snapshot operation per VM at a time, a create slower than
// vmsnapshot.create.wait (fails, nothing kept), no volume attach/detach nor reinstall while snapshots exist,
// memory snapshots dropped by a resize, all removed with the VM, memory refused for a stopped VM
// and for a GPU VM (disk-only allowed), another account's snapshots not found.
import { asc, eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { jobs, vmSnapshots } from "../../manager/src/db/schema.js";
import { createUserKey, errorShapeProblems, jobsIdle, startTestCloud, stateDigest, type TestCloud } from "./harness.js";

const HOSTS = [
  { hostname: "snap-cpu", uuid: "5a000000-0000-4000-8000-000000000001", cpus: 16, memoryMib: 64 * 1024 },
  { hostname: "snap-gpu", uuid: "5a000000-0000-4000-8000-000000000002", cpus: 64, memoryMib: 512 * 1024, gpus: [{ model: "NVIDIA H100 80GB HBM3", memoryMib: 81559, count: 2 }], tags: ["gpu"] },
];
const MAX = 4;

let cloud: TestCloud;
let alice: string;
let bob: string;

const sim = () => cloud.fleet.hypervisors[0]!;

async function createVm(name: string, flavor = "n1-cpu-small"): Promise<{ id: number; uuid: string }> {
  const r = await cloud.api("POST", "/v1/core/virtual-machines", { name, environment_name: "default", flavor_name: flavor, image_name: "Debian 12" }, alice);
  expect(r.status, JSON.stringify(r.json)).toBe(200);
  await jobsIdle(cloud);
  const i = (await cloud.api("GET", `/v1/core/virtual-machines/${r.json.instances[0].id}`)).json.instance;
  expect(i.status).toBe("ACTIVE");
  return { id: i.id, uuid: i.uuid };
}

const vmStatus = async (id: number) => (await cloud.api("GET", `/v1/core/virtual-machines/${id}`, undefined, alice)).json.instance.status as string;

async function power(id: number, action: "start" | "stop"): Promise<void> {
  const r = await cloud.api("GET", `/v1/core/virtual-machines/${id}/${action}`, undefined, alice);
  expect(r.status, JSON.stringify(r.json)).toBe(200);
  await jobsIdle(cloud);
}

async function job(id: number) {
  const [j] = await cloud.manager.database.db.select().from(jobs).where(eq(jobs.id, id));
  return j!;
}

/** Creates a snapshot and waits for its job; returns the snapshot as the API shows it then. */
async function snapshot(vmId: number, body: Record<string, unknown>, key = alice) {
  const r = await cloud.api("POST", `/v1/core/virtual-machines/${vmId}/snapshots`, { description: "", ...body }, key);
  expect(r.status, JSON.stringify(r.json)).toBe(201);
  expect(r.json.snapshot.status).toBe("Creating");
  await jobsIdle(cloud);
  expect((await job(r.json.job_id)).status).toBe("succeeded");
  return (await cloud.api("GET", `/v1/core/snapshots/${r.json.snapshot.id}`, undefined, key)).json.snapshot;
}

async function snapshotRows(vmId: number) {
  return cloud.manager.database.db.select().from(vmSnapshots).where(eq(vmSnapshots.vmId, vmId)).orderBy(asc(vmSnapshots.id));
}

/** The request is refused with that status and message, and neither the database nor the VM's snapshots changed. */
async function refused(method: string, path: string, body: unknown, status: number, message: RegExp, key = alice) {
  await jobsIdle(cloud);
  const before = await stateDigest(cloud);
  const snapsBefore = JSON.stringify(await cloud.manager.database.db.select().from(vmSnapshots).orderBy(asc(vmSnapshots.id)));
  const r = await cloud.api(method, path, body, key);
  expect(r.status, JSON.stringify(r.json)).toBe(status);
  expect(errorShapeProblems(r.status, r.json)).toEqual([]);
  expect(r.json.message).toMatch(message);
  expect(await stateDigest(cloud)).toBe(before);
  expect(JSON.stringify(await cloud.manager.database.db.select().from(vmSnapshots).orderBy(asc(vmSnapshots.id)))).toBe(snapsBefore);
  return r;
}

beforeAll(async () => {
  cloud = await startTestCloud({ hosts: HOSTS, settings: { "vmsnapshot.max": MAX, "vmsnapshot.create.wait": 1 } });
  await cloud.waitFor("hosts up", async () => (await cloud.api("GET", "/v1/admin/hosts")).json.hosts?.filter((h: any) => h.state === "Up").length === 2);
  alice = await createUserKey(cloud, "snap-alice");
  bob = await createUserKey(cloud, "snap-bob");
}, 60_000);
afterAll(async () => { await cloud?.stop(); });

describe("VM snapshots", () => {
  let vm: { id: number; uuid: string };
  let withMemory: Record<string, any>;
  let diskOnly: Record<string, any>;

  beforeAll(async () => { vm = await createVm("snap-vm"); }, 30_000);

  it("takes a memory snapshot of a running VM, then one without memory on top of it; lists them per VM and per account; name availability", async () => {
    withMemory = await snapshot(vm.id, { name: "with-memory", description: "before", memory: true });
    expect(withMemory).toMatchObject({ name: "with-memory", description: "before", vm_id: vm.id, status: "Ready", memory: true, parent_id: null, current: true, is_image: false, error: null });
    expect(withMemory.size_bytes).toBeGreaterThan(0);
    diskOnly = await snapshot(vm.id, { name: "disk-only" });
    expect(diskOnly).toMatchObject({ status: "Ready", memory: false, parent_id: withMemory.id, current: true });
    expect((await cloud.api("GET", `/v1/core/snapshots/${withMemory.id}`, undefined, alice)).json.snapshot.current).toBe(false);
    expect((await sim().listSnapshots(vm.uuid)).length).toBe(2);

    const perVm = await cloud.api("GET", `/v1/core/virtual-machines/${vm.id}/snapshots`, undefined, alice);
    expect(perVm.json.snapshots.map((s: any) => s.name)).toEqual(["disk-only", "with-memory"]);
    const all = await cloud.api("GET", "/v1/core/snapshots?search=memory", undefined, alice);
    expect(all.json).toMatchObject({ count: 1, snapshots: [{ id: withMemory.id }] });
    expect((await cloud.api("GET", "/v1/core/snapshots", undefined, bob)).json.count).toBe(0);
    expect((await cloud.api("GET", "/v1/core/snapshots/name-availability/with-memory", undefined, alice)).json.available).toBe(false);
    expect((await cloud.api("GET", "/v1/core/snapshots/name-availability/with-memory", undefined, bob)).json.available).toBe(true);
  });

  it("reverts to the memory snapshot: the VM is Running; to the one without memory: the VM is Stopped", async () => {
    let r = await cloud.api("POST", `/v1/core/snapshots/${diskOnly.id}/revert`, undefined, alice);
    expect(r.status, JSON.stringify(r.json)).toBe(200);
    expect(r.json.snapshot.status).toBe("Reverting");
    await jobsIdle(cloud);
    expect((await job(r.json.job_id)).result).toMatchObject({ snapshot_id: diskOnly.id, vm_state: "Stopped" });
    expect(await vmStatus(vm.id)).toBe("SHUTOFF");

    r = await cloud.api("POST", `/v1/core/snapshots/${withMemory.id}/revert`, undefined, alice);
    expect(r.status, JSON.stringify(r.json)).toBe(200);
    await jobsIdle(cloud);
    expect((await job(r.json.job_id)).result).toMatchObject({ vm_state: "Running" });
    expect(await vmStatus(vm.id)).toBe("ACTIVE");
    const s = (await cloud.api("GET", `/v1/core/snapshots/${withMemory.id}`, undefined, alice)).json.snapshot;
    expect(s).toMatchObject({ status: "Ready", current: true });
  });

  it("refuses memory with quiesce (400), a taken name (409), another account's VM and snapshots (404)", async () => {
    await refused("POST", `/v1/core/virtual-machines/${vm.id}/snapshots`, { name: "q", description: "", memory: true, quiesce: true }, 400, /quiesce is for snapshots without memory/);
    await refused("POST", `/v1/core/virtual-machines/${vm.id}/snapshots`, { name: "with-memory", description: "" }, 409, /already exists/);
    await refused("POST", `/v1/core/virtual-machines/${vm.id}/snapshots`, { name: "b", description: "" }, 404, /virtual machine/, bob);
    await refused("GET", `/v1/core/virtual-machines/${vm.id}/snapshots`, undefined, 404, /virtual machine/, bob);
    for (const [method, path] of [["GET", ""], ["DELETE", ""], ["POST", "/revert"]] as const) {
      await refused(method, `/v1/core/snapshots/${withMemory.id}${path}`, undefined, 404, /snapshot/, bob);
    }
  });

  it("a quiesced snapshot of a guest without a guest agent fails clearly and keeps nothing; it can be deleted", async () => {
    const r = await cloud.api("POST", `/v1/core/virtual-machines/${vm.id}/snapshots`, { name: "quiet", description: "", quiesce: true }, alice);
    expect(r.status, JSON.stringify(r.json)).toBe(201);
    await jobsIdle(cloud);
    expect((await job(r.json.job_id)).error?.message).toMatch(/no guest agent channel/);
    // The job reads failed a moment before its failure hook marks the snapshot (runner then hook).
    const s = await cloud.waitFor("the snapshot in Error", async () => {
      const snap = (await cloud.api("GET", `/v1/core/snapshots/${r.json.snapshot.id}`, undefined, alice)).json.snapshot;
      return snap.status === "Creating" ? undefined : snap;
    });
    expect(s.status).toBe("Error");
    expect(s.error).toMatch(/no guest agent channel/);
    expect((await sim().listSnapshots(vm.uuid)).length).toBe(2);
    const d = await cloud.api("DELETE", `/v1/core/snapshots/${s.id}`, undefined, alice);
    expect(d.status, JSON.stringify(d.json)).toBe(200);
    await jobsIdle(cloud);
    expect((await cloud.api("GET", `/v1/core/snapshots/${s.id}`, undefined, alice)).status).toBe(404);
  });

  it("one snapshot operation per VM at a time: a second create, a revert and a delete meanwhile are 409", async () => {
    sim().snapshotDelayMs = 600;
    try {
      const r = await cloud.api("POST", `/v1/core/virtual-machines/${vm.id}/snapshots`, { name: "slow", description: "" }, alice);
      expect(r.status, JSON.stringify(r.json)).toBe(201);
      for (const [method, path, body] of [
        ["POST", `/v1/core/virtual-machines/${vm.id}/snapshots`, { name: "second", description: "" }],
        ["POST", `/v1/core/snapshots/${withMemory.id}/revert`, undefined],
        ["DELETE", `/v1/core/snapshots/${diskOnly.id}`, undefined],
      ] as const) {
        const x = await cloud.api(method, path, body, alice);
        expect(x.status, `${method} ${path}: ${JSON.stringify(x.json)}`).toBe(409);
        expect(x.json.message).toMatch(/snapshot operation in progress .* one at a time/);
      }
      await jobsIdle(cloud);
      expect((await job(r.json.job_id)).status).toBe("succeeded");
    } finally {
      sim().snapshotDelayMs = 0;
    }
  });

  it(`refuses a snapshot beyond vmsnapshot.max (${MAX}) naming the limit`, async () => {
    while ((await snapshotRows(vm.id)).length < MAX) await snapshot(vm.id, { name: `fill-${(await snapshotRows(vm.id)).length}` });
    await refused("POST", `/v1/core/virtual-machines/${vm.id}/snapshots`, { name: "one-too-many", description: "" }, 409, /vmsnapshot\.max = 4/);
  });

  it("no volume attach or detach while the VM has snapshots (409)", async () => {
    const v = await cloud.api("POST", "/v1/core/volumes", { name: "snap-data", environment_name: "default", volume_type: "local", size: 1 }, alice);
    expect(v.status, JSON.stringify(v.json)).toBe(200);
    await refused("POST", `/v1/core/virtual-machines/${vm.id}/attach-volumes`, { volume_ids: [v.json.volume.id] }, 409, /has \d+ snapshot\(s\): volumes cannot attach/);
  });

  it("deletes a snapshot: its child hangs off its parent", async () => {
    const rows = await snapshotRows(vm.id);
    const child = rows.find((r) => r.parentId === withMemory.id)!;
    const r = await cloud.api("DELETE", `/v1/core/snapshots/${withMemory.id}`, undefined, alice);
    expect(r.status, JSON.stringify(r.json)).toBe(200);
    expect(r.json.snapshot.status).toBe("Deleting");
    await jobsIdle(cloud);
    expect((await cloud.api("GET", `/v1/core/snapshots/${withMemory.id}`, undefined, alice)).status).toBe(404);
    expect((await snapshotRows(vm.id)).find((x) => x.id === child.id)?.parentId).toBeNull();
    expect((await sim().listSnapshots(vm.uuid)).map((s) => s.name)).not.toContain(rows.find((x) => x.id === withMemory.id)!.hostName);
  });

  it("a create slower than vmsnapshot.create.wait fails clearly: the snapshot is in Error and the host keeps nothing of it", async () => {
    await cloud.api("DELETE", `/v1/core/snapshots/${(await snapshotRows(vm.id)).at(-1)!.id}`, undefined, alice);
    await jobsIdle(cloud);
    const onHost = (await sim().listSnapshots(vm.uuid)).length;
    sim().snapshotDelayMs = 5000;
    try {
      const r = await cloud.api("POST", `/v1/core/virtual-machines/${vm.id}/snapshots`, { name: "too-slow", description: "" }, alice);
      expect(r.status, JSON.stringify(r.json)).toBe(201);
      await cloud.waitFor("the create job to fail", async () => (await job(r.json.job_id)).status === "failed", 10_000);
      expect((await job(r.json.job_id)).error?.message).toMatch(/did not finish within 1000 ms: it was aborted and nothing of it was kept/);
      const s = (await cloud.api("GET", `/v1/core/snapshots/${r.json.snapshot.id}`, undefined, alice)).json.snapshot;
      expect(s.status).toBe("Error");
      expect((await sim().listSnapshots(vm.uuid)).length).toBe(onHost);
    } finally {
      sim().snapshotDelayMs = 0;
    }
  });

  it("memory needs a running VM (400); a resize drops the memory snapshots and keeps the others", async () => {
    await snapshot(vm.id, { name: "mem-before-resize", memory: true });
    await power(vm.id, "stop");
    await refused("POST", `/v1/core/virtual-machines/${vm.id}/snapshots`, { name: "mem-stopped", description: "", memory: true }, 400, /only a running VM has a memory state/);
    const rows = await snapshotRows(vm.id);
    expect(rows.some((r) => r.memory)).toBe(true);
    const r = await cloud.api("POST", `/v1/core/virtual-machines/${vm.id}/resize`, { flavor_name: "n1-cpu-medium" }, alice);
    expect(r.status, JSON.stringify(r.json)).toBe(200);
    await jobsIdle(cloud);
    const after = await snapshotRows(vm.id);
    expect(after.filter((x) => x.memory)).toEqual([]);
    expect(after.map((x) => x.id)).toEqual(rows.filter((x) => !x.memory).map((x) => x.id));
    expect((await sim().listSnapshots(vm.uuid)).every((s) => !rows.find((x) => x.memory && x.hostName === s.name))).toBe(true);
  });

  it("all of a VM's snapshots go with it", async () => {
    const ids = (await snapshotRows(vm.id)).map((r) => r.id);
    expect(ids.length).toBeGreaterThan(0);
    expect((await cloud.api("DELETE", `/v1/core/virtual-machines/${vm.id}`, undefined, alice)).status).toBe(200);
    await jobsIdle(cloud);
    expect(await snapshotRows(vm.id)).toEqual([]);
    for (const id of ids) expect((await cloud.api("GET", `/v1/core/snapshots/${id}`, undefined, alice)).status).toBe(404);
    expect(sim().has(vm.uuid)).toBe(false);
  });
});

describe("a VM's disks do not change under its snapshots", () => {
  it("a volume attached before the snapshot cannot be detached (409), nor the VM reinstalled (409); both are allowed again once the snapshots are gone", async () => {
    const other = await createVm("snap-disks-vm");
    const v = await cloud.api("POST", "/v1/core/volumes", { name: "snap-attached", environment_name: "default", volume_type: "local", size: 1 }, alice);
    expect(v.status, JSON.stringify(v.json)).toBe(200);
    const volumeId = v.json.volume.id as number;
    expect((await cloud.api("POST", `/v1/core/virtual-machines/${other.id}/attach-volumes`, { volume_ids: [volumeId] }, alice)).status).toBe(200);
    await jobsIdle(cloud);
    const s = await snapshot(other.id, { name: "with-volume" });
    await refused("POST", `/v1/core/virtual-machines/${other.id}/detach-volumes`, { volume_ids: [volumeId] }, 409, /has 1 snapshot\(s\): volumes cannot detach/);
    await refused("POST", `/v1/core/virtual-machines/${other.id}/restore`, {}, 409, /has 1 snapshot\(s\): it cannot be reinstalled/);
    expect((await cloud.api("DELETE", `/v1/core/snapshots/${s.id}`, undefined, alice)).status).toBe(200);
    await jobsIdle(cloud);
    expect((await cloud.api("POST", `/v1/core/virtual-machines/${other.id}/detach-volumes`, { volume_ids: [volumeId] }, alice)).status).toBe(200);
    await jobsIdle(cloud);
  }, 30_000);
});

describe("VM snapshots of a GPU VM", () => {
  it("refuses a memory snapshot of a VM with a passthrough GPU (409 with the reason); a disk-only one is taken", async () => {
    const gpuVm = await createVm("snap-gpu-vm", "n3-H100x1");
    await refused("POST", `/v1/core/virtual-machines/${gpuVm.id}/snapshots`, { name: "gpu-mem", description: "", memory: true }, 409, /passthrough GPU: its device state cannot be saved/);
    const s = await snapshot(gpuVm.id, { name: "gpu-disks" });
    expect(s).toMatchObject({ status: "Ready", memory: false });
  }, 30_000);
});
