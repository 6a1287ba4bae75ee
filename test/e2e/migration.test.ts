// Admin migration on the in-process test cloud: simulated hosts that share a migration network
// (dev/simulated-fleet.ts), the manager's routes, reservation, job and settle. After every move,
// failure and cancel each host's allocated capacity is the sum of the VMs it runs, and GPUs are
// held only on the VM's host.
import { and, eq, isNull, like, ne } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { allocations, gpuAllocations, hosts, storagePools, vmMigrations, vms } from "../../manager/src/db/schema.js";
import { buildSnapshot } from "../../manager/src/placement/snapshot-builder.js";
import { createUserKey, jobsIdle, startTestCloud, stateDigest, type TestCloud } from "./harness.js";

const H100 = [{ model: "NVIDIA H100 80GB HBM3", memoryMib: 81559, count: 2 }];
const HOSTS = [
  { hostname: "mig-a", uuid: "319a0000-0000-4000-8000-00000000000a", cpus: 16, memoryMib: 32768 },
  { hostname: "mig-b", uuid: "319a0000-0000-4000-8000-00000000000b", cpus: 16, memoryMib: 32768 },
  { hostname: "mig-g1", uuid: "319a0000-0000-4000-8000-0000000000c1", cpus: 64, memoryMib: 512 * 1024, gpus: H100 },
  { hostname: "mig-g2", uuid: "319a0000-0000-4000-8000-0000000000c2", cpus: 64, memoryMib: 512 * 1024, gpus: H100 },
  { hostname: "mig-tiny", uuid: "319a0000-0000-4000-8000-0000000000dd", cpus: 2, memoryMib: 2048 },
  { hostname: "mig-other", uuid: "319a0000-0000-4000-8000-0000000000ee", cpus: 16, memoryMib: 32768, cluster: "other" },
];

let cloud: TestCloud;
const ids: Record<string, number> = {};
const db = () => cloud.manager.database.db;
const hv = (name: string) => cloud.fleet.hypervisors[HOSTS.findIndex((h) => h.hostname === name)]!;

beforeAll(async () => {
  cloud = await startTestCloud({ hosts: HOSTS, settings: { "ping.interval": 0.3 } });
  await cloud.waitFor("hosts Up", async () => {
    const r = await cloud.api("GET", "/v1/admin/hosts");
    return r.json.hosts?.length === HOSTS.length && r.json.hosts.every((h: any) => h.state === "Up");
  });
  for (const h of (await cloud.api("GET", "/v1/admin/hosts")).json.hosts) ids[h.name] = h.id;
  // The default cluster's storage is shared (its VMs move without copying disks); "other" keeps a local pool.
  await db().update(storagePools).set({ kind: "shared" }).where(like(storagePools.name, "default-default-%"));
  // Nothing lands on the other cluster until the storage-motion test asks for it.
  expect((await cloud.api("PUT", `/v1/admin/hosts/${ids["mig-other"]}`, { resource_state: "Disabled" })).status).toBe(200);
}, 120_000);
afterAll(async () => { await cloud?.stop(); });

async function createVm(name: string, flavor = "n1-cpu-small"): Promise<{ id: number; uuid: string; host: string }> {
  const r = await cloud.api("POST", "/v1/core/virtual-machines", { name, flavor_name: flavor, image_name: "Debian 12", count: 1 });
  expect(r.status, JSON.stringify(r.json)).toBe(200);
  const inst = r.json.instances[0];
  const running = await cloud.waitFor(`${name} ACTIVE`, async () => {
    const v = (await cloud.api("GET", `/v1/core/virtual-machines/${inst.id}`)).json.instance;
    return v?.status === "ACTIVE" && v;
  });
  return { id: inst.id, uuid: inst.uuid ?? running.uuid, host: running.host };
}

async function vmNow(id: number): Promise<any> {
  return (await cloud.api("GET", `/v1/core/virtual-machines/${id}`)).json.instance;
}

async function jobDone(jobId: number): Promise<any> {
  return cloud.waitFor(`job ${jobId} done`, async () => {
    const j = (await cloud.api("GET", `/v1/core/jobs/${jobId}`)).json.job;
    return (j?.status === "succeeded" || j?.status === "failed") && j;
  }, 20_000);
}

/** Each host's allocated vCPUs / memory is the sum of the VMs it runs; GPUs are held only on the VM's host; no reservation left. */
async function expectCapacityConsistent(): Promise<void> {
  const live = await db().select({ id: vms.id, hostId: vms.hostId, vcpus: vms.vcpus, memoryMib: vms.memoryMib, state: vms.state })
    .from(vms).where(and(isNull(vms.deletedAt), ne(vms.state, "Error")));
  const view = (await cloud.api("GET", "/v1/admin/hosts")).json.hosts as any[];
  for (const h of view) {
    const mine = live.filter((v) => v.hostId === h.id);
    expect(h.allocated, `host ${h.name}`).toEqual({
      vcpus: mine.reduce((s, v) => s + v.vcpus, 0), memory_mib: mine.reduce((s, v) => s + v.memoryMib, 0), vms: mine.length,
    });
    for (const g of h.gpus) for (const a of g.allocations) expect(mine.map((v) => v.id), `GPU ${g.pci_address} of ${h.name}`).toContain(a.vm_id);
  }
  const allocs = await db().select().from(allocations);
  for (const a of allocs) expect(live.find((v) => v.id === a.vmId)?.hostId).toBe(a.hostId);
  const gpuRows = await db().select().from(gpuAllocations);
  for (const g of gpuRows) expect(live.find((v) => v.id === g.vmId)?.hostId).toBe(g.hostId);
  expect(await db().select().from(vmMigrations).where(eq(vmMigrations.state, "running"))).toEqual([]);
}

function otherCpuHost(source: string): string {
  return source === "mig-a" ? "mig-b" : "mig-a";
}

describe("migration hosts", () => {
  it("lists every other host, suitable or with the allocator's and migration's reasons", async () => {
    const v = await createVm("mh-1");
    const r = await cloud.api("GET", `/v1/admin/virtual-machines/${v.id}/migration-hosts`);
    expect(r.status, JSON.stringify(r.json)).toBe(200);
    const m = r.json.migration_hosts;
    expect(m).toMatchObject({ vm_id: v.id, source_host_id: ids[v.host], mode: "live", storage_motion: false });
    expect(m.hosts.map((h: any) => h.host_name).sort()).toEqual(HOSTS.map((h) => h.hostname).filter((n) => n !== v.host).sort());
    const by = (n: string) => m.hosts.find((h: any) => h.host_name === n);
    expect(by("mig-tiny")).toMatchObject({ suitable: false });
    expect(by("mig-tiny").reasons.map((x: any) => x.code)).toContain("memory_capacity");
    expect(by("mig-other").reasons.map((x: any) => x.code)).toEqual(expect.arrayContaining(["host_not_enabled", "different_cluster"]));
    expect(by(otherCpuHost(v.host))).toMatchObject({ suitable: true, reasons: [] });
  });
});

describe("live migration", () => {
  it("moves a running VM: allocation, host and domain on the destination, capacity released on the source", async () => {
    const v = await createVm("live-1");
    const dest = otherCpuHost(v.host);
    expect((await cloud.api("PUT", "/v1/admin/settings/vm.migrate.autoconverge", { value: true })).status).toBe(200);
    const r = await cloud.api("POST", `/v1/admin/virtual-machines/${v.id}/migrate`, { host_id: ids[dest] });
    expect(r.status, JSON.stringify(r.json)).toBe(200);
    expect(r.json.migration).toMatchObject({ destination_host_id: ids[dest] });
    const job = await jobDone(r.json.migration.job_id);
    await cloud.api("DELETE", "/v1/admin/settings/vm.migrate.autoconverge");
    expect(job.status, JSON.stringify(job)).toBe("succeeded");
    expect(await vmNow(v.id)).toMatchObject({ host: dest, orbit_state: "Running", status: "ACTIVE" });
    expect((await hv(dest).listDomains()).map((d) => d.vmUuid)).toContain(v.uuid);
    expect((await hv(v.host).listDomains()).map((d) => d.vmUuid)).not.toContain(v.uuid);
    const mig = (await cloud.api("GET", `/v1/admin/migrations/${r.json.migration.migration_id}`)).json.migration;
    expect(mig).toMatchObject({ state: "succeeded", mode: "live", source_host_id: ids[v.host], destination_host_id: ids[dest], downtime_ms: 1 });
    expect(mig.progress.data_total_bytes).toBe(4096 * 1024 * 1024);
    // What the source was asked: the destination's URI and cluster address (its facts), the settings.
    const destView = ((await cloud.api("GET", "/v1/admin/hosts")).json.hosts as any[]).find((h) => h.name === dest);
    expect(hv(v.host).lastMigration).toMatchObject({
      destinationUri: `simulator://${dest}`, migrateUri: `tcp://${destView.cluster_address}`, live: true, copyStorage: "none",
      autoConverge: true, timeoutMs: 3600 * 1000, allowUnsafe: true,
    });
    await expectCapacityConsistent();
  });

  it("host auto: the allocator picks a suitable destination", async () => {
    const v = await createVm("auto-1");
    const r = await cloud.api("POST", `/v1/admin/virtual-machines/${v.id}/migrate`, { host: "auto" });
    expect(r.status, JSON.stringify(r.json)).toBe(200);
    const dest = r.json.migration.destination_host_id;
    expect(dest).not.toBe(ids[v.host]);
    expect([ids["mig-tiny"], ids["mig-other"]]).not.toContain(dest);
    expect((await jobDone(r.json.migration.job_id)).status).toBe("succeeded");
    expect(ids[(await vmNow(v.id)).host]).toBe(dest);
    await expectCapacityConsistent();
  });

  it("shows progress while it copies, and the reconciler leaves a migrating VM alone", async () => {
    const v = await createVm("slow-1");
    const dest = otherCpuHost(v.host);
    hv(v.host).migrationDurationMs = 2500;
    // vm.migrate.downtime goes to QEMU (the simulator reports it back as the expected downtime).
    expect((await cloud.api("PUT", "/v1/admin/settings/vm.migrate.downtime", { value: 150 })).status).toBe(200);
    try {
      const r = await cloud.api("POST", `/v1/admin/virtual-machines/${v.id}/migrate`, { host_id: ids[dest] });
      expect(r.status).toBe(200);
      const mig = await cloud.waitFor("progress", async () => {
        const m = (await cloud.api("GET", `/v1/admin/virtual-machines/${v.id}/migrations`)).json.migrations[0];
        return m?.progress?.data_processed_bytes > 0 && m;
      });
      expect(mig).toMatchObject({ state: "running", reserved: { vcpus: 2, memory_mib: 4096, disk_gib: 0 } });
      expect(mig.progress).toMatchObject({ data_total_bytes: 4096 * 1024 * 1024, expected_downtime_ms: 150, iteration: 1 });
      expect(mig.progress.data_remaining_bytes).toBe(mig.progress.data_total_bytes - mig.progress.data_processed_bytes);
      // Capacity is held on both hosts meanwhile: the placement snapshot counts the reservation on the destination.
      const snap = await buildSnapshot(db(), { hostIds: [ids[v.host]!, ids[dest]!] });
      const onHost = async (id: number) => (await db().select({ vcpus: vms.vcpus }).from(vms).where(and(eq(vms.hostId, id), isNull(vms.deletedAt))))
        .reduce((n, x) => n + x.vcpus, 0);
      expect(snap.hosts.find((h) => h.id === String(ids[dest]))!.cpu.allocated).toBe(await onHost(ids[dest]!) + 2);
      expect(snap.hosts.find((h) => h.id === String(ids[v.host]))!.cpu.allocated).toBe(await onHost(ids[v.host]!));
      // Heartbeats of both hosts go by: the VM stays Migrating, nothing is taken as unmanaged.
      await new Promise((res) => setTimeout(res, 800));
      expect((await vmNow(v.id)).orbit_state).toBe("Migrating");
      const job = (await cloud.api("GET", `/v1/core/jobs/${r.json.migration.job_id}`)).json.job;
      expect(job.progress).toBeGreaterThan(5);
      expect((await jobDone(r.json.migration.job_id)).status).toBe("succeeded");
      const hostView = (await cloud.api("GET", "/v1/admin/hosts")).json.hosts as any[];
      for (const h of hostView) expect(h.unmanaged_domains).toEqual([]);
      expect(await vmNow(v.id)).toMatchObject({ host: dest, orbit_state: "Running" });
    } finally {
      hv(v.host).migrationDurationMs = 0;
      await cloud.api("DELETE", "/v1/admin/settings/vm.migrate.downtime");
    }
    await expectCapacityConsistent();
  });
});

describe("a migration that does not finish leaves the VM running on its source with nothing leaked", () => {
  it("cancel", async () => {
    const v = await createVm("cancel-1");
    const before = await stateDigestOfHosts();
    hv(v.host).migrationDurationMs = 5000;
    try {
      const r = await cloud.api("POST", `/v1/admin/virtual-machines/${v.id}/migrate`, { host_id: ids[otherCpuHost(v.host)] });
      expect(r.status).toBe(200);
      await cloud.waitFor("copy started", async () => (await cloud.api("GET", `/v1/admin/migrations/${r.json.migration.migration_id}`)).json.migration.progress);
      const c = await cloud.api("POST", `/v1/admin/virtual-machines/${v.id}/migrate/cancel`);
      expect(c.status, JSON.stringify(c.json)).toBe(200);
      expect(c.json.migration).toEqual({ migration_id: r.json.migration.migration_id, job_id: r.json.migration.job_id });
      const job = await jobDone(r.json.migration.job_id);
      expect(job.status).toBe("failed");
      const mig = (await cloud.api("GET", `/v1/admin/migrations/${r.json.migration.migration_id}`)).json.migration;
      expect(mig).toMatchObject({ state: "cancelled", cancel_requested: true });
    } finally {
      hv(v.host).migrationDurationMs = 0;
    }
    expect(await vmNow(v.id)).toMatchObject({ host: v.host, orbit_state: "Running", status: "ACTIVE" });
    expect((await hv(v.host).listDomains()).map((d) => d.vmUuid)).toContain(v.uuid);
    expect(await stateDigestOfHosts()).toEqual(before);
    await expectCapacityConsistent();
  });

  it("failure at the switch-over (injected on the source)", async () => {
    const v = await createVm("fail-1");
    const before = await stateDigestOfHosts();
    hv(v.host).failNextMigration = "simulated loss of the migration link";
    const r = await cloud.api("POST", `/v1/admin/virtual-machines/${v.id}/migrate`, { host_id: ids[otherCpuHost(v.host)] });
    expect(r.status).toBe(200);
    const job = await jobDone(r.json.migration.job_id);
    expect(job.status).toBe("failed");
    expect(job.error?.message ?? JSON.stringify(job)).toMatch(/simulated loss of the migration link.*stays on host/);
    const mig = (await cloud.api("GET", `/v1/admin/migrations/${r.json.migration.migration_id}`)).json.migration;
    expect(mig.state).toBe("failed");
    expect(mig.error.message).toMatch(/simulated loss/);
    expect(await vmNow(v.id)).toMatchObject({ host: v.host, orbit_state: "Running" });
    expect(await stateDigestOfHosts()).toEqual(before);
    await expectCapacityConsistent();
  });

  it("migratewait: a copy slower than it is aborted", async () => {
    const v = await createVm("slowpoke-1");
    expect((await cloud.api("PUT", "/v1/admin/settings/migratewait", { value: 1 })).status).toBe(200);
    hv(v.host).migrationDurationMs = 4000;
    try {
      const r = await cloud.api("POST", `/v1/admin/virtual-machines/${v.id}/migrate`, { host_id: ids[otherCpuHost(v.host)] });
      expect(r.status).toBe(200);
      const job = await jobDone(r.json.migration.job_id);
      expect(job.status).toBe("failed");
      const mig = (await cloud.api("GET", `/v1/admin/migrations/${r.json.migration.migration_id}`)).json.migration;
      expect(mig).toMatchObject({ state: "failed", error: { code: "deadline_exceeded" } });
      expect(mig.error.message).toMatch(/1000 ms/);
    } finally {
      hv(v.host).migrationDurationMs = 0;
      await cloud.api("DELETE", "/v1/admin/settings/migratewait");
    }
    expect(await vmNow(v.id)).toMatchObject({ host: v.host, orbit_state: "Running" });
    await expectCapacityConsistent();
  });
});

describe("a destination that cannot be reached", () => {
  it("fails the job once its attempts are used up, before the VM was touched: reservation dropped, VM running on its source", async () => {
    const v = await createVm("unreach-1");
    const dest = otherCpuHost(v.host);
    const destIdx = HOSTS.findIndex((h) => h.hostname === dest);
    const before = await stateDigestOfHosts();
    expect((await cloud.api("PUT", "/v1/admin/settings/job.max.attempts", { value: 1 })).status).toBe(200);
    await cloud.fleet.stopAgent(destIdx);
    try {
      // Still Up for the manager (its heartbeat deadline has not passed): accepted, then PrepareMigrationIn never answered.
      const r = await cloud.api("POST", `/v1/admin/virtual-machines/${v.id}/migrate`, { host_id: ids[dest] });
      expect(r.status, JSON.stringify(r.json)).toBe(200);
      const job = await jobDone(r.json.migration.job_id);
      expect(job.status).toBe("failed");
      // Settled by the runner's failure hook, just after the job's row says failed.
      const mig = await cloud.waitFor("migration settled", async () => {
        const m = (await cloud.api("GET", `/v1/admin/migrations/${r.json.migration.migration_id}`)).json.migration;
        return m.state !== "running" && m;
      });
      expect(mig.state).toBe("failed");
      expect(mig.error.code).toBe("agent_unavailable");
      expect(await vmNow(v.id)).toMatchObject({ host: v.host, orbit_state: "Running" });
      expect(await stateDigestOfHosts()).toEqual(before);
    } finally {
      await cloud.api("DELETE", "/v1/admin/settings/job.max.attempts");
      await cloud.fleet.startAgent(destIdx);
      await cloud.waitFor(`${dest} Up`, async () => ((await cloud.api("GET", "/v1/admin/hosts")).json.hosts as any[]).find((h) => h.name === dest)?.state === "Up");
    }
    await expectCapacityConsistent();
  });
});

/** What the hosts hold (allocations and GPU rows by host), for before/after comparisons. */
async function stateDigestOfHosts(): Promise<string> {
  const a = await db().select({ vm: allocations.vmId, host: allocations.hostId, vcpus: allocations.vcpus }).from(allocations).orderBy(allocations.vmId);
  const g = await db().select({ vm: gpuAllocations.vmId, host: gpuAllocations.hostId, gpu: gpuAllocations.gpuId }).from(gpuAllocations).orderBy(gpuAllocations.id);
  return JSON.stringify({ a, g });
}

describe("GPU VMs", () => {
  let gpuVm: { id: number; uuid: string; host: string };
  it("a passthrough GPU VM is refused live with the reason, and cold only when asked", async () => {
    gpuVm = await createVm("gpu-1", "n3-H100x1");
    await jobsIdle(cloud);
    const before = await stateDigest(cloud);
    const live = await cloud.api("POST", `/v1/admin/virtual-machines/${gpuVm.id}/migrate`, { host: "auto", mode: "live" });
    expect(live.status).toBe(409);
    expect(live.json).toMatchObject({ code: "conflict", reason: "gpu_passthrough_live" });
    expect(live.json.message).toMatch(/passthrough GPUs/);
    const auto = await cloud.api("POST", `/v1/admin/virtual-machines/${gpuVm.id}/migrate`, { host: "auto" });
    expect(auto.status).toBe(409);
    expect(auto.json.reason).toBe("cold_not_allowed");
    expect(await stateDigest(cloud)).toBe(before);
    const hostsFor = (await cloud.api("GET", `/v1/admin/virtual-machines/${gpuVm.id}/migration-hosts`)).json.migration_hosts;
    expect(hostsFor.mode).toBe("cold");
    const other = gpuVm.host === "mig-g1" ? "mig-g2" : "mig-g1";
    expect(hostsFor.hosts.find((h: any) => h.host_name === other)).toMatchObject({ suitable: true });
    expect(hostsFor.hosts.find((h: any) => h.host_name === "mig-a").reasons.map((x: any) => x.code)).toContain("gpu_model");
  });

  it("cold: stopped, moved with a GPU of the destination, started there; GPU capacity updated on both hosts", async () => {
    const other = gpuVm.host === "mig-g1" ? "mig-g2" : "mig-g1";
    const gpusOf = async (name: string) => ((await cloud.api("GET", "/v1/admin/hosts")).json.hosts as any[])
      .find((h) => h.name === name).gpus.flatMap((g: any) => g.allocations.map((a: any) => a.vm_id));
    expect(await gpusOf(gpuVm.host)).toContain(gpuVm.id);
    const r = await cloud.api("POST", `/v1/admin/virtual-machines/${gpuVm.id}/migrate`, { host_id: ids[other], mode: "cold" });
    expect(r.status, JSON.stringify(r.json)).toBe(200);
    const job = await jobDone(r.json.migration.job_id);
    expect(job.status, JSON.stringify(job)).toBe("succeeded");
    expect(await vmNow(gpuVm.id)).toMatchObject({ host: other, orbit_state: "Running" });
    expect(await gpusOf(gpuVm.host)).not.toContain(gpuVm.id);
    expect(await gpusOf(other)).toEqual([gpuVm.id]);
    const dom = (await hv(other).listDomains()).find((d) => d.vmUuid === gpuVm.uuid);
    expect(dom).toBeDefined();
    expect((await hv(gpuVm.host).listDomains()).map((d) => d.vmUuid)).not.toContain(gpuVm.uuid);
    await expectCapacityConsistent();
  });
});

describe("bad requests change nothing", () => {
  it("answers 4xx naming the problem", async () => {
    const v = await createVm("bad-1");
    await jobsIdle(cloud);
    const before = await stateDigest(cloud);
    const cases: [unknown, number, RegExp | string][] = [
      [{ host_id: ids[otherCpuHost(v.host)], host: "auto" }, 400, /host_id or host/],
      [{}, 400, /host_id or host/],
      [{ host: "anywhere" }, 400, /host/],
      [{ host: "auto", mode: "sideways" }, 400, /mode/],
      [{ host: "auto", colour: "blue" }, 400, /colour/],
      [{ host_id: 999999 }, 404, /host 999999/],
      [{ host_id: ids[v.host] }, 409, "same_host"],
      [{ host_id: ids["mig-tiny"] }, 409, "memory_capacity"],
      [{ host_id: ids["mig-other"] }, 409, "host_not_enabled"],
      [{ host: "auto", storage_motion: true }, 409, "storage_motion_shared"],
      [{ host: "auto", mode: "cold", storage_motion: true }, 409, "storage_motion_cold"],
    ];
    for (const [body, status, want] of cases) {
      const r = await cloud.api("POST", `/v1/admin/virtual-machines/${v.id}/migrate`, body);
      expect(r.status, `${JSON.stringify(body)} → ${JSON.stringify(r.json)}`).toBe(status);
      if (typeof want === "string") expect(r.json.reasons.map((x: any) => x.code), JSON.stringify(r.json)).toContain(want);
      else expect(r.json.message).toMatch(want);
    }
    expect((await cloud.api("POST", "/v1/admin/virtual-machines/999999/migrate", { host: "auto" })).status).toBe(404);
    expect((await cloud.api("GET", "/v1/admin/virtual-machines/999999/migration-hosts")).status).toBe(404);
    expect((await cloud.api("GET", "/v1/admin/virtual-machines/abc/migration-hosts")).status).toBe(400);
    expect((await cloud.api("GET", "/v1/admin/migrations/999999")).status).toBe(404);
    const noMig = await cloud.api("POST", `/v1/admin/virtual-machines/${v.id}/migrate/cancel`);
    expect(noMig.status).toBe(409);
    expect(noMig.json.reason).toBe("not_migrating");
    expect(await stateDigest(cloud)).toBe(before);
  });

  it("a stopped VM does not move live", async () => {
    const v = await createVm("stopped-1");
    expect((await cloud.api("GET", `/v1/core/virtual-machines/${v.id}/stop`)).status).toBe(200);
    await cloud.waitFor("stopped", async () => (await vmNow(v.id)).orbit_state === "Stopped");
    await jobsIdle(cloud);
    const before = await stateDigest(cloud);
    const r = await cloud.api("POST", `/v1/admin/virtual-machines/${v.id}/migrate`, { host: "auto", mode: "live" });
    expect(r.status).toBe(409);
    expect(r.json.reason).toBe("vm_not_running");
    expect(await stateDigest(cloud)).toBe(before);
    // Cold, on shared storage: only undefined on the source and moved.
    const cold = await cloud.api("POST", `/v1/admin/virtual-machines/${v.id}/migrate`, { host: "auto" });
    expect(cold.status, JSON.stringify(cold.json)).toBe(200);
    expect((await jobDone(cold.json.migration.job_id)).status).toBe("succeeded");
    const moved = await vmNow(v.id);
    expect(moved).toMatchObject({ orbit_state: "Stopped" });
    expect(ids[moved.host]).toBe(cold.json.migration.destination_host_id);
    expect(moved.host).not.toBe(v.host);
    await expectCapacityConsistent();
  });

  it("user keys cannot use the admin routes", async () => {
    const key = await createUserKey(cloud, "mig-user");
    const [vm] = await db().select({ id: vms.id }).from(vms).limit(1);
    expect((await cloud.api("GET", `/v1/admin/virtual-machines/${vm!.id}/migration-hosts`, undefined, key)).status).toBe(403);
    expect((await cloud.api("POST", `/v1/admin/virtual-machines/${vm!.id}/migrate`, { host: "auto" }, key)).status).toBe(403);
    expect((await cloud.api("POST", `/v1/admin/virtual-machines/${vm!.id}/migrate/cancel`, undefined, key)).status).toBe(403);
    expect((await cloud.api("GET", "/v1/admin/migrations/1", undefined, key)).status).toBe(403);
    expect((await cloud.api("GET", `/v1/admin/virtual-machines/${vm!.id}/migration-hosts`, undefined, null)).status).toBe(401);
  });
});

describe("local disks", () => {
  it("move live only with storage motion, into another cluster's pool", async () => {
    // From now on new root disks are local in the default cluster too.
    const [cluster] = await db().select({ id: hosts.clusterId }).from(hosts).where(eq(hosts.id, ids["mig-a"]!));
    const made = await cloud.api("POST", "/v1/admin/storage-pools", { name: "default-local-2", cluster_id: cluster!.id, kind: "local", path: "/var/lib/orbit/local2", capacity_gib: 1000 });
    expect(made.status, JSON.stringify(made.json)).toBe(201);
    expect((await cloud.api("PUT", `/v1/admin/hosts/${ids["mig-other"]}`, { resource_state: "Enabled" })).status).toBe(200);
    const v = await createVm("local-1");
    await jobsIdle(cloud);
    const before = await stateDigest(cloud);
    const plain = await cloud.api("POST", `/v1/admin/virtual-machines/${v.id}/migrate`, { host_id: ids["mig-other"] });
    expect(plain.status).toBe(409);
    expect(plain.json.reason).toBe("local_storage");
    expect(await stateDigest(cloud)).toBe(before);
    const pools = async () => Object.fromEntries((await db().select().from(storagePools)).map((p) => [p.name, p.allocatedGib]));
    const poolsBefore = await pools();
    const r = await cloud.api("POST", `/v1/admin/virtual-machines/${v.id}/migrate`, { host_id: ids["mig-other"], storage_motion: true });
    expect(r.status, JSON.stringify(r.json)).toBe(200);
    expect((await jobDone(r.json.migration.job_id)).status).toBe("succeeded");
    expect(await vmNow(v.id)).toMatchObject({ host: "mig-other", orbit_state: "Running" });
    const poolsAfter = await pools();
    expect(poolsAfter["default-local-2"]).toBe(poolsBefore["default-local-2"]! - 20);
    expect(poolsAfter["default-other-local"]).toBe(poolsBefore["default-other-local"]! + 20);
    await expectCapacityConsistent();
  });
});
