// VM metrics and console logs through manager → gRPC → agent → simulator: the agents' counter
// reports become series on GET .../metrics, the console log request-then-fetch pair answers the
// simulated boot lines, another account's VM is a 404 on every route, old samples are purged.
import { and, eq } from "drizzle-orm";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { VmStats } from "#shared/protocol.js";
import { vmMetrics, vms } from "../../manager/src/db/schema.js";
import { VmMetricsService } from "../../manager/src/monitoring/vm-metrics-service.js";
import { createUserKey, errorShapeProblems, jobsIdle, startTestCloud, type TestCloud } from "./harness.js";

let cloud: TestCloud;
let alice: string;
let bob: string;
let vmId: number;

beforeAll(async () => {
  cloud = await startTestCloud({
    hosts: [{ hostname: "metrics-a", uuid: "73000000-0000-4000-8000-000000000001", cpus: 16, memoryMib: 32768 }],
    fleet: { statsIntervalMs: 150 },
  });
  await cloud.waitFor("host up", async () => (await cloud.api("GET", "/v1/admin/hosts")).json.hosts?.[0]?.state === "Up");
  alice = await createUserKey(cloud, "metrics-alice");
  bob = await createUserKey(cloud, "metrics-bob");
  const created = await cloud.api("POST", "/v1/core/virtual-machines", { name: "metrics-vm", flavor_name: "n1-cpu-small", image_name: "Debian 12" }, alice);
  expect(created.status).toBe(200);
  vmId = created.json.instances[0].id;
  await jobsIdle(cloud);
  expect((await cloud.api("GET", `/v1/core/virtual-machines/${vmId}`, undefined, alice)).json.instance.status).toBe("ACTIVE");
}, 120_000);
afterAll(async () => { await cloud?.stop(); });

const metrics = (query: string, key: string) => cloud.api("GET", `/v1/core/virtual-machines/${vmId}/metrics${query}`, undefined, key);

describe("VM metrics", () => {
  it("answers the VM's series in Hyperstack's shape once its agent has reported twice", async () => {
    const m = await cloud.waitFor("two samples", async () => {
      const r = await metrics("?duration=1h", alice);
      return r.status === 200 && r.json.cpu.data.length >= 2 ? r.json : undefined;
    });
    for (const name of ["cpu", "memory.usages", "disk.read", "disk.write", "network.in", "network.out"]) {
      expect(m[name].columns).toEqual(["time", "granularity", "value"]);
      for (const row of m[name].data) {
        expect(row).toHaveLength(3);
        expect(row[0]).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\+00:00$/);
        expect(Number.isInteger(row[1]) && row[1] >= 1).toBe(true);
        expect(typeof row[2]).toBe("number");
      }
    }
    expect(m.cpu.unit).toBe("%");
    // The simulator keeps a quarter of each vCPU busy. This VM has no disk in its spec (the
    // embedded image has no path), so its disk rates are 0; its NIC (every VM has one on its
    // environment's network) moves bytes in proportion to its CPU time.
    const cpu = m.cpu.data.at(-1)[2];
    expect(cpu).toBeGreaterThan(10);
    expect(cpu).toBeLessThan(40);
    expect(m["memory.usages"].data.at(-1)[2]).toBeGreaterThan(0);
    for (const name of ["disk.read", "disk.write", "network.in", "network.out"]) expect(m[name].unit).toBe("B/s");
    for (const name of ["disk.read", "disk.write"]) expect(m[name].data.at(-1)[2]).toBe(0);
    for (const name of ["network.in", "network.out"]) expect(m[name].data.at(-1)[2]).toBeGreaterThan(0);
    // Without a duration: everything kept.
    const all = await metrics("", alice);
    expect(all.status).toBe(200);
    expect(all.json.cpu.data.length).toBeGreaterThanOrEqual(1);
  });

  it("refuses a duration that is not one of Hyperstack's with a 400 naming it", async () => {
    for (const bad of ["5m", "24h", "1H", ""]) {
      const r = await metrics(`?duration=${bad}`, alice);
      expect(r.status).toBe(400);
      expect(errorShapeProblems(400, r.json)).toEqual([]);
      expect(r.json.field).toBe("duration");
    }
    expect((await metrics("?since=1h", alice)).status).toBe(400);
  });

  it("answers 404 for another account's VM and for a VM that does not exist", async () => {
    const r = await metrics("?duration=1h", bob);
    expect(r.status).toBe(404);
    expect(errorShapeProblems(404, r.json)).toEqual([]);
    expect((await cloud.api("GET", "/v1/core/virtual-machines/999999/metrics", undefined, alice)).status).toBe(404);
  });

  it("purges samples older than the retention setting", async () => {
    const db = cloud.manager.database.db;
    const day = 86_400_000;
    await db.insert(vmMetrics).values({
      vmId, at: new Date(Date.now() - 3 * day), granularitySeconds: 60, cpuPercent: 1, memoryUsedBytes: 1,
      diskReadBytesPerSecond: 0, diskWriteBytesPerSecond: 0, networkInBytesPerSecond: 0, networkOutBytesPerSecond: 0,
    });
    const svc = (days: number) => new VmMetricsService({ db, retentionDays: () => days, log: pino({ level: "silent" }) });
    expect((await svc(7).purge()).samples).toBe(0);
    expect((await svc(2).purge()).samples).toBe(1);
    const left = await db.select({ at: vmMetrics.at }).from(vmMetrics).where(eq(vmMetrics.vmId, vmId));
    expect(left.length).toBeGreaterThan(0);
    expect(left.every((r) => r.at.getTime() > Date.now() - 2 * day)).toBe(true);
  });

  it("records a host's report only for the VMs placed on that host, from the second report on", async () => {
    const db = cloud.manager.database.db;
    const [vm] = await db.select({ uuid: vms.uuid, hostId: vms.hostId }).from(vms).where(eq(vms.id, vmId));
    const svc = new VmMetricsService({ db, retentionDays: () => 30, log: pino({ level: "silent" }) });
    const report = (atMs: number, cpuTimeNs: number) => ({
      sampledAtMs: atMs, samples: [{ vmUuid: vm!.uuid.toUpperCase(), stats: VmStats.fromPartial({ cpuTimeNs, vcpusCurrent: 1, memoryCurrentKib: 1 }) }, { vmUuid: "not-a-uuid", stats: VmStats.fromPartial({}) }],
    });
    const now = Date.now();
    expect(await svc.record(vm!.hostId! + 1000, report(now - 2000, 0))).toBe(0);
    expect(await svc.record(vm!.hostId! + 1000, report(now - 1000, 5e8))).toBe(0);
    expect(await svc.record(vm!.hostId!, report(now - 2000, 0))).toBe(0);
    expect(await svc.record(vm!.hostId!, report(now - 1000, 5e8))).toBe(1);
    // Half a second of CPU time in one second on one vCPU.
    // (The VM's own host reports it too, every second: a sample of its may share that instant, as seen once in CI.)
    const rows = await db.select().from(vmMetrics).where(and(eq(vmMetrics.vmId, vmId), eq(vmMetrics.at, new Date(now - 1000))));
    expect(rows).toContainEqual(expect.objectContaining({ cpuPercent: 50, granularitySeconds: 1, memoryUsedBytes: 1024 }));
  });

  it("takes the retention as a validated global setting", async () => {
    expect((await cloud.api("PUT", "/v1/admin/settings/vm.metrics.retention.days", { value: 0 })).status).toBe(400);
    expect((await cloud.api("PUT", "/v1/admin/settings/vm.metrics.retention.days", { value: 7 })).status).toBe(200);
  });
});

describe("VM console logs", () => {
  const logs = (key: string, method: "GET" | "POST", suffix = "", body?: unknown) =>
    cloud.api(method, `/v1/core/virtual-machines/${vmId}/logs${suffix}`, body, key);

  it("requests the console log, then fetches its tail", async () => {
    const req = await logs(alice, "POST", "", {});
    expect(req.status).toBe(200);
    expect(Number.isInteger(req.json.request_id)).toBe(true);
    const got = await cloud.waitFor("logs", async () => {
      const r = await logs(alice, "GET", `?request_id=${req.json.request_id}`);
      expect(r.status).toBe(200);
      return r.json.request_status === "succeeded" ? r.json : undefined;
    });
    expect(got.logs).toMatch(/Linux version/);
    expect(got.logs).toMatch(/metrics-vm login: $/);

    const three = await logs(alice, "POST", "", { length: 3 });
    const tail = await cloud.waitFor("tail", async () => {
      const r = await logs(alice, "GET", `?request_id=${three.json.request_id}`);
      return r.json.request_status === "succeeded" ? r.json : undefined;
    });
    expect(tail.logs.split("\n")).toHaveLength(3);
    expect(tail.truncated).toBe(true);
  });

  it("refuses bad requests with a 400 naming the field", async () => {
    for (const [body, field] of [[{ length: 0 }, "length"], [{ length: 1e9 }, "length"], [{ lines: 3 }, "lines"]] as const) {
      const r = await logs(alice, "POST", "", body);
      expect(r.status).toBe(400);
      expect(r.json.field).toBe(field);
    }
    for (const q of ["", "?request_id=abc", "?request_id=0"]) {
      const r = await logs(alice, "GET", q);
      expect(r.status).toBe(400);
      expect(r.json.field).toBe("request_id");
    }
    expect((await logs(alice, "GET", "?request_id=999999")).status).toBe(404);
  });

  it("answers 404 for another account's VM on both routes, even with a valid request id", async () => {
    const mine = await logs(alice, "POST", "", {});
    expect(mine.status).toBe(200);
    const post = await logs(bob, "POST", "", {});
    expect(post.status).toBe(404);
    expect(errorShapeProblems(404, post.json)).toEqual([]);
    expect((await logs(bob, "GET", `?request_id=${mine.json.request_id}`)).status).toBe(404);
  });
});
