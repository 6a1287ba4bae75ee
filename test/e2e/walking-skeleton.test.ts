// The walking skeleton's user story, end to end: a manager and two simulated agents over real
// gRPC; create a VM through the API, see it Running on the host the manager chose, delete it,
// see it gone from the agent and its capacity released.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HypervisorError } from "#shared/errors.js";
import { startTestCloud, type TestCloud } from "./harness.js";

const HOSTS = [
  { hostname: "e2e-a", uuid: "e2e00000-0000-4000-8000-00000000000a", cpus: 16, memoryMib: 32768 },
  { hostname: "e2e-b", uuid: "e2e00000-0000-4000-8000-00000000000b", cpus: 32, memoryMib: 65536, numaCells: 2,
    gpus: [{ model: "NVIDIA H100 80GB HBM3", memoryMib: 81559, count: 2 }] },
];

let cloud: TestCloud;
beforeAll(async () => {
  cloud = await startTestCloud({
    hosts: HOSTS,
    // A host-side failure, as QEMU would report one, for VMs whose name says so.
    fleet: { failStart: (spec) => (spec.name.startsWith("doomed") ? "simulated QEMU failure: could not open disk image" : undefined) },
  });
}, 120_000);
afterAll(async () => { await cloud?.stop(); });

async function hostsView(): Promise<any[]> {
  const r = await cloud.api("GET", "/v1/admin/hosts");
  expect(r.status).toBe(200);
  return r.json.hosts;
}

describe("walking skeleton", () => {
  it("lists both hosts Up with their capacity and GPUs", async () => {
    const hosts = await cloud.waitFor("hosts up", async () => {
      const hs = await hostsView();
      return hs.length === 2 && hs.every((h) => h.state === "Up") && hs;
    });
    const b = hosts.find((h: any) => h.name === "e2e-b");
    expect(b.capacity).toMatchObject({ cpus: 32, memory_mib: 65536 });
    expect(b.gpus).toHaveLength(2);
    expect(b.gpus[0]).toMatchObject({ model: "NVIDIA H100 80GB HBM3", numa_node: 0 });
    expect(b.gpus[1].numa_node).toBe(1);
    // The simulated fleet's hosts are reachable by each other for live migration.
    expect(b).toMatchObject({ migration_uri: "simulator://e2e-b", hypervisor_version: "simulator" });
    expect(b.cluster_address).toMatch(/^127\.0\.10\.\d+$/);
  });

  it("creates a VM, runs it on the chosen host, deletes it and releases its capacity", async () => {
    const created = await cloud.api("POST", "/v1/core/virtual-machines", {
      name: "web-1", flavor_name: "n1-cpu-small", image_name: "Debian 12", count: 1,
    });
    expect(created.status).toBe(200);
    expect(created.json.status).toBe(true);
    const inst = created.json.instances[0];
    expect(["CREATING", "STARTING"]).toContain(inst.status);
    expect(typeof created.json.job_id).toBe("number");
    const chosen = inst.host as string;
    expect(["e2e-a", "e2e-b"]).toContain(chosen);

    const running = await cloud.waitFor("VM running", async () => {
      const r = await cloud.api("GET", `/v1/core/virtual-machines/${inst.id}`);
      return r.json.instance?.status === "ACTIVE" && r.json.instance;
    });
    expect(running).toMatchObject({ power_state: "RUNNING", orbit_state: "Running", host: chosen });
    const hv = cloud.fleet.hypervisors[HOSTS.findIndex((h) => h.hostname === chosen)]!;
    expect(hv.has(inst.uuid)).toBe(true);
    const job = await cloud.api("GET", `/v1/core/jobs/${created.json.job_id}`);
    expect(job.json.job).toMatchObject({ kind: "vm.deploy", status: "succeeded" });

    let hosts = await hostsView();
    const h = hosts.find((x) => x.name === chosen);
    expect(h.allocated).toEqual({ vcpus: 2, memory_mib: 4096, vms: 1 });

    const listed = await cloud.api("GET", "/v1/core/virtual-machines");
    expect(listed.json).toMatchObject({ status: true, count: 1, page: 1 });
    expect(listed.json.instances[0].id).toBe(inst.id);

    const del = await cloud.api("DELETE", `/v1/core/virtual-machines/${inst.id}`);
    expect(del.status).toBe(200);
    expect(del.json.instance.status).toBe("DELETING");
    await cloud.waitFor("VM gone", async () => (await cloud.api("GET", `/v1/core/virtual-machines/${inst.id}`)).status === 404);
    expect(hv.has(inst.uuid)).toBe(false);
    hosts = await hostsView();
    for (const x of hosts) expect(x.allocated).toEqual({ vcpus: 0, memory_mib: 0, vms: 0 });
  });

  it("refuses a GPU flavor no host can take and explains every host", async () => {
    const created = await cloud.api("POST", "/v1/core/virtual-machines", {
      name: "gpu-1", flavor_name: "n3-H100x1", image_name: "Debian 12",
    });
    // n3-H100x1 asks for 28 vCPU / 180 GiB: more memory than the GPU host has.
    expect(created.status).toBe(409);
    expect(created.json.error_reason).toBe("insufficient_capacity");
    const byHost = Object.fromEntries(created.json.rejections.map((r: any) => [r.host_name, r]));
    expect(byHost["e2e-a"].filter).toMatch(/gpu/);
    expect(byHost["e2e-b"].filter).toMatch(/memory/);
    const hosts = await hostsView();
    for (const x of hosts) expect(x.allocated.vms).toBe(0);
  });

  it("marks a VM Error with the reason when the agent fails to start it, and releases capacity", async () => {
    const created = await cloud.api("POST", "/v1/core/virtual-machines", {
      name: "doomed-1", flavor_name: "n1-cpu-medium", image_name: "Debian 12",
    });
    expect(created.status).toBe(200);
    const id = created.json.instances[0].id;
    const failed = await cloud.waitFor("VM error", async () => {
      const r = await cloud.api("GET", `/v1/core/virtual-machines/${id}`);
      return r.json.instance?.status === "ERROR" && r.json.instance;
    });
    expect(failed.state_reason).toContain("could not open disk image");
    const job = await cloud.api("GET", `/v1/core/jobs/${created.json.job_id}`);
    expect(job.json.job).toMatchObject({ status: "failed", error: { code: "hypervisor_error" } });
    for (const x of await hostsView()) expect(x.allocated).toEqual({ vcpus: 0, memory_mib: 0, vms: 0 });
    // An Error VM can still be deleted.
    expect((await cloud.api("DELETE", `/v1/core/virtual-machines/${id}`)).status).toBe(200);
    await cloud.waitFor("VM gone", async () => (await cloud.api("GET", `/v1/core/virtual-machines/${id}`)).status === 404);
  });

  it("keeps a VM's capacity when its destroy fails on the host, and releases it when a later delete succeeds", async () => {
    const created = await cloud.api("POST", "/v1/core/virtual-machines", { name: "sticky", flavor_name: "n1-cpu-small", image_name: "Debian 12" });
    const inst = created.json.instances[0];
    await cloud.waitFor("running", async () => (await cloud.api("GET", `/v1/core/virtual-machines/${inst.id}`)).json.instance?.status === "ACTIVE");
    const hv = cloud.fleet.hypervisors[HOSTS.findIndex((h) => h.hostname === inst.host)]!;
    const realDestroy = hv.destroyVm.bind(hv);
    hv.destroyVm = async () => { throw new HypervisorError("simulated: cannot undefine domain (device busy)"); };
    try {
      await cloud.api("DELETE", `/v1/core/virtual-machines/${inst.id}`);
      const failed = await cloud.waitFor("error", async () => {
        const i = (await cloud.api("GET", `/v1/core/virtual-machines/${inst.id}`)).json.instance;
        return i?.status === "ERROR" && i;
      });
      expect(failed.state_reason).toMatch(/device busy.*capacity kept/);
      expect(hv.has(inst.uuid)).toBe(true);
      const held = (await hostsView()).find((h) => h.name === inst.host);
      expect(held.allocated).toEqual({ vcpus: 2, memory_mib: 4096, vms: 1 });
    } finally {
      hv.destroyVm = realDestroy;
    }
    expect((await cloud.api("DELETE", `/v1/core/virtual-machines/${inst.id}`)).status).toBe(200);
    await cloud.waitFor("gone", async () => (await cloud.api("GET", `/v1/core/virtual-machines/${inst.id}`)).status === 404);
    for (const x of await hostsView()) expect(x.allocated).toEqual({ vcpus: 0, memory_mib: 0, vms: 0 });
  });

  it("places count VMs in one request with names suffixed and one job each", async () => {
    const created = await cloud.api("POST", "/v1/core/virtual-machines", {
      name: "batch", flavor_name: "n1-cpu-small", image_name: "Debian 12", count: 3,
    });
    expect(created.status).toBe(200);
    expect(created.json.instances.map((i: any) => i.name)).toEqual(["batch-1", "batch-2", "batch-3"]);
    expect(new Set(created.json.job_ids).size).toBe(3);
    for (const i of created.json.instances) {
      await cloud.waitFor("running", async () => (await cloud.api("GET", `/v1/core/virtual-machines/${i.id}`)).json.instance?.status === "ACTIVE");
    }
    const total = (await hostsView()).reduce((s, h) => s + h.allocated.vcpus, 0);
    expect(total).toBe(6);
    for (const i of created.json.instances) await cloud.api("DELETE", `/v1/core/virtual-machines/${i.id}`);
    for (const i of created.json.instances) {
      await cloud.waitFor("gone", async () => (await cloud.api("GET", `/v1/core/virtual-machines/${i.id}`)).status === 404);
    }
  });
});
