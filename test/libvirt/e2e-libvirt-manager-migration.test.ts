// Live migration driven by the manager (issue 15) on two real libvirt hosts
// (libvirt-two-host-stack.ts: two namespaces on one LAN, a sandboxed libvirtd and a real
// orbit-agent process each, shared storage): a booted guest is moved through the admin API
// (migration-hosts, migrate), shows Migrating, runs on the other host and is the same guest there
// (what it wrote to its disk before is read back through its console on the destination, and it
// never booted again); the hosts' capacity follows it; then back with host "auto"; then a
// destination whose libvirtd cannot be reached fails the migration and leaves the VM running on
// its source with nothing held on the destination; a cancel mid-copy too; then a cold move (the
// guest boots again from the same disk on the other host) and a host maintenance that moves it
// off live; then host removal: refused while the (disabled) host holds the VM, naming it, and
// done once a maintenance has drained it. Tests run in order on one VM.
import { randomUUID } from "node:crypto";
import { execa } from "execa";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { missingTools } from "../../agent/src/drivers/libvirt/tool-availability.js";
import { countOf } from "./guest-console.js";
import { type LibvirtTwoHostStack, libvirtTwoHostStack, type TestHost, type TestVm } from "./libvirt-two-host-stack.js";
import { REQUIRED_TOOLS } from "./sandboxed-libvirtd.js";

const missing = missingTools([...REQUIRED_TOOLS, "ip", "nft"]);
const notRoot = process.getuid?.() !== 0;
const reason = missing.length > 0 ? `${missing.join(", ")} not installed` : notRoot ? "needs root" : "";
const skip = reason !== "" && !process.env.CI;
if (skip) console.warn(`real-libvirt manager migration e2e skipped: ${reason} (bash scripts/install-system-deps.sh)`);

/** Where the guest writes its token: a byte offset on its root disk (vda, the blank base's overlay). */
const TOKEN_OFFSET = 8192;

interface MigrationRun {
  /** API call to the job's end. */
  apiMs: number;
  /** The VM's API statuses seen, in order. */
  statuses: string[];
  /** The migration's progress samples seen (GET /v1/admin/migrations/{id}). */
  progress: Record<string, any>[];
}

describe.skipIf(skip)(`live migration through the manager's API between two real libvirt hosts${reason ? ` (${reason})` : ""}`, () => {
  const stack = libvirtTwoHostStack();
  let s: LibvirtTwoHostStack;
  let vm: TestVm;
  let source: TestHost;
  let destination: TestHost;
  const token = `tok-${randomUUID().slice(0, 12)}`;
  const figures: string[] = [];

  const adminHost = async (h: TestHost): Promise<Record<string, any>> =>
    ((await s.cloud.api("GET", "/v1/admin/hosts")).json.hosts as Record<string, any>[]).find((x) => x.id === h.id)!;
  const job = async (id: number): Promise<Record<string, any>> => (await s.cloud.api("GET", `/v1/core/jobs/${id}`)).json.job;

  const migration = async (id: number): Promise<Record<string, any>> => (await s.cloud.api("GET", `/v1/admin/migrations/${id}`)).json.migration;

  /**
   * POST migrate; follows the VM's status, the migration record (its progress) and the job until
   * the job ends, `during` called with the migration record at each poll until it answers true;
   * the job and the migration.
   */
  const migrate = async (body: Record<string, unknown>, during?: (m: Record<string, any>) => Promise<boolean>): Promise<{ job: Record<string, any>; migration: Record<string, any>; run: MigrationRun }> => {
    const t = Date.now();
    const r = await s.cloud.api("POST", `/v1/admin/virtual-machines/${vm.id}/migrate`, body);
    expect(r.status, JSON.stringify(r.json)).toBe(200);
    const { job_id: jobId, migration_id: migrationId } = r.json.migration as { job_id: number; migration_id: number };
    const statuses: string[] = [];
    const progress: Record<string, any>[] = [];
    let called = false;
    const done = await s.cloud.waitFor(`migration job ${jobId}`, async () => {
      const status = (await s.instance(vm.id)).status as string;
      if (statuses.at(-1) !== status) statuses.push(status);
      const m = await migration(migrationId);
      if (m.progress && progress.at(-1)?.at !== m.progress.at) progress.push(m.progress);
      if (during && !called) called = await during(m);
      const j = await job(jobId);
      return j.status === "succeeded" || j.status === "failed" ? j : undefined;
    }, 180_000).catch((e: unknown) => { throw new Error(`${String(e)}\n${s.logs()}`); });
    // The VM may have moved on between this poll's read of it and of its job: read it once more.
    const last = (await s.instance(vm.id)).status as string;
    if (statuses.at(-1) !== last) statuses.push(last);
    return { job: done, migration: await migration(migrationId), run: { apiMs: Date.now() - t, statuses, progress } };
  };

  const readToken = (): Promise<string> => s.typeOnConsole(vm, `orbit-read vda ${TOKEN_OFFSET} ${token.length}`, `GUEST-READ vda ${TOKEN_OFFSET}`);

  beforeAll(async () => {
    if (reason) throw new Error(`real-libvirt tests cannot run: ${reason}`);
    s = await stack.start({ workPrefix: "orbit-mig-", settings: { "ping.interval": 1 } });
  }, 180_000);

  afterAll(async () => {
    if (figures.length) console.info(`manager-driven live migration on QEMU/TCG: ${figures.join("; ")}`);
    await stack.stop();
    expect(await s?.footprint() ?? []).toEqual([]);
  }, 60_000);

  it("boots a VM; the guest writes a token on its disk", async () => {
    vm = await s.deploy({ name: "mig" });
    source = s.host((await s.instance(vm.id)).host as string);
    destination = s.hosts.find((h) => h !== source)!;
    await s.booted(vm);
    expect(await s.typeOnConsole(vm, `orbit-write vda ${TOKEN_OFFSET} ${token}`, "GUEST-WROTE")).toBe(`GUEST-WROTE vda ${TOKEN_OFFSET} ${token.length}`);
    expect((await adminHost(source)).allocated).toMatchObject({ vms: 1 });
    expect((await adminHost(destination)).allocated).toMatchObject({ vms: 0, vcpus: 0, memory_mib: 0 });
  }, 120_000);

  it("migration-hosts lists the other host as suitable", async () => {
    const r = await s.cloud.api("GET", `/v1/admin/virtual-machines/${vm.id}/migration-hosts`);
    expect(r.status, JSON.stringify(r.json)).toBe(200);
    const m = r.json.migration_hosts as Record<string, any>;
    // Live, its disks on the cluster's shared pool: nothing to copy.
    expect(m).toMatchObject({ vm_id: vm.id, source_host_id: source.id, mode: "live", storage_motion: false });
    expect(m.hosts).toEqual([{ host_id: destination.id, host_name: destination.hostname, suitable: true, reasons: [] }]);
  });

  it("migrates it live to the other host: Migrating, then Running there, the same guest answering on its console", async () => {
    const { job: j, migration: m, run } = await migrate({ host_id: destination.id, mode: "live" });
    expect(j, `${JSON.stringify(j)}\n${s.logs()}`).toMatchObject({ status: "succeeded" });
    expect(run.statuses).toContain("MIGRATING");
    expect(run.statuses.at(-1)).toBe("ACTIVE");
    expect(m).toMatchObject({ state: "succeeded", mode: "live", source_host_id: source.id, destination_host_id: destination.id, error: null });
    expect(m.downtime_ms).toBeGreaterThan(0);
    expect(m.total_ms).toBeGreaterThan(0);
    figures.push(`${source.hostname} → ${destination.hostname}: downtime ${m.downtime_ms} ms, total ${m.total_ms} ms (migration record), API call to job succeeded ${run.apiMs} ms, ${run.progress.length} progress sample(s) seen`);

    expect((await s.instance(vm.id)).host).toBe(destination.hostname);
    expect(await destination.running()).toEqual([vm.uuid]);
    expect(await source.running()).toEqual([]);
    // The console now goes through the destination's agent; the guest reads back what it wrote,
    // and it never booted again (one GUEST-READY in the serial log, which the move kept).
    expect(await readToken()).toBe(`GUEST-READ vda ${TOKEN_OFFSET} ${token}`);
    expect(countOf(s.serialLog(vm.uuid), "GUEST-READY")).toBe(1);
  }, 240_000);

  it("the hosts' capacity moved with it: nothing left allocated on the source", async () => {
    await s.cloud.waitFor("the source's allocation released", async () => (await adminHost(source)).allocated.vms === 0, 10_000);
    expect((await adminHost(source)).allocated).toMatchObject({ vms: 0, vcpus: 0, memory_mib: 0 });
    expect((await adminHost(destination)).allocated).toMatchObject({ vms: 1 });
    expect((await adminHost(destination)).allocated.vcpus).toBeGreaterThan(0);
  });

  it("migrates it back with host \"auto\" (the only other host), still the same guest", async () => {
    const { job: j, migration: m, run } = await migrate({ host: "auto" });
    expect(j, `${JSON.stringify(j)}\n${s.logs()}`).toMatchObject({ status: "succeeded" });
    expect(m).toMatchObject({ state: "succeeded", destination_host_id: source.id });
    expect(m.downtime_ms).toBeGreaterThan(0);
    figures.push(`${destination.hostname} → ${source.hostname} (auto): downtime ${m.downtime_ms} ms, total ${m.total_ms} ms, API call to job succeeded ${run.apiMs} ms`);
    expect((await s.instance(vm.id)).host).toBe(source.hostname);
    expect(await source.running()).toEqual([vm.uuid]);
    expect(await destination.running()).toEqual([]);
    expect(await readToken()).toBe(`GUEST-READ vda ${TOKEN_OFFSET} ${token}`);
    expect(countOf(s.serialLog(vm.uuid), "GUEST-READY")).toBe(1);
    await s.cloud.waitFor("the allocation back on the source", async () => (await adminHost(destination)).allocated.vms === 0, 10_000);
  }, 240_000);

  it("a destination whose libvirtd cannot be reached fails the migration: the VM stays Running on its host, nothing held on the other", async () => {
    // The destination's host stays Up (its agent's connection is its own, outgoing), but its
    // libvirtd's TCP port refuses connections: the peer-to-peer migration cannot start.
    const nft = (args: string[]) => execa("ip", ["netns", "exec", destination.net.name, "nft", ...args]);
    await nft(["add", "table", "inet", "orbit_test_block"]);
    await nft(["add", "chain", "inet", "orbit_test_block", "input", "{ type filter hook input priority -10; policy accept; }"]);
    await nft(["add", "rule", "inet", "orbit_test_block", "input", "tcp", "dport", "16509", "reject", "with", "tcp", "reset"]);
    try {
      const { job: j, migration: m } = await migrate({ host_id: destination.id, mode: "live" });
      expect(j.status, JSON.stringify(j)).toBe("failed");
      expect(m.state).toBe("failed");
      expect(m.error, JSON.stringify(m)).not.toBeNull();
    } finally {
      await nft(["delete", "table", "inet", "orbit_test_block"]);
    }
    const i = await s.instance(vm.id);
    expect([i.status, i.host]).toEqual(["ACTIVE", source.hostname]);
    expect(await source.running()).toEqual([vm.uuid]);
    expect(await destination.running()).toEqual([]);
    expect((await execa("virsh", ["-c", destination.daemon.uri, "list", "--all", "--uuid"])).stdout.trim()).toBe("");
    await s.cloud.waitFor("nothing held on the destination", async () => (await adminHost(destination)).allocated.vms === 0, 10_000);
    expect((await adminHost(destination)).allocated).toMatchObject({ vms: 0, vcpus: 0, memory_mib: 0 });
    expect((await adminHost(source)).allocated).toMatchObject({ vms: 1 });
    // Still the same guest, still answering.
    expect(await readToken()).toBe(`GUEST-READ vda ${TOKEN_OFFSET} ${token}`);
  }, 240_000);

  it("a migration cancelled mid-copy (the source's link capped at 8 Mbit/s) leaves it Running on its host, nothing held on the other", async () => {
    await s.lan.throttle(source.net, 8);
    let cancelledAt: Record<string, any> | undefined;
    try {
      const { job: j, migration: m, run } = await migrate({ host_id: destination.id, mode: "live" }, async (mig) => {
        // Mid-copy: the host has reported bytes sent (the first pass over its memory takes minutes at this rate).
        if (!(mig.state === "running" && (mig.progress?.data_processed_bytes ?? 0) > 0)) return false;
        cancelledAt = mig.progress;
        const c = await s.cloud.api("POST", `/v1/admin/virtual-machines/${vm.id}/migrate/cancel`);
        expect(c.status, JSON.stringify(c.json)).toBe(200);
        return true;
      });
      expect(cancelledAt, `no progress with bytes sent was seen: ${JSON.stringify(run.progress)}`).toBeDefined();
      expect(cancelledAt!.data_remaining_bytes).toBeGreaterThan(0);
      expect(j.status, JSON.stringify(j)).toBe("failed");
      expect(m).toMatchObject({ state: "cancelled", cancel_requested: true });
      expect(run.statuses).toContain("MIGRATING");
      figures.push(`cancel mid-copy: ${run.progress.length} progress sample(s) seen, cancelled at ${cancelledAt!.data_processed_bytes} of ${cancelledAt!.data_total_bytes} bytes, API call to job failed ${run.apiMs} ms`);
    } finally {
      await s.lan.throttle(source.net, undefined);
    }
    const i = await s.instance(vm.id);
    expect([i.status, i.host]).toEqual(["ACTIVE", source.hostname]);
    expect(await source.running()).toEqual([vm.uuid]);
    expect((await execa("virsh", ["-c", destination.daemon.uri, "list", "--all", "--uuid"])).stdout.trim()).toBe("");
    await s.cloud.waitFor("nothing held on the destination", async () => (await adminHost(destination)).allocated.vms === 0, 10_000);
    expect(await readToken()).toBe(`GUEST-READ vda ${TOKEN_OFFSET} ${token}`);
    expect(countOf(s.serialLog(vm.uuid), "GUEST-READY")).toBe(1);
  }, 240_000);

  it("moves it cold: stopped, moved, started on the other host from the same disk (it boots again; its token is still there)", async () => {
    const from = s.host((await s.instance(vm.id)).host as string);
    const to = s.hosts.find((h) => h !== from)!;
    const { job: j, migration: m, run } = await migrate({ host_id: to.id, mode: "cold" });
    expect(j, `${JSON.stringify(j)}\n${s.logs()}`).toMatchObject({ status: "succeeded" });
    expect(m).toMatchObject({ state: "succeeded", mode: "cold", source_host_id: from.id, destination_host_id: to.id });
    figures.push(`cold ${from.hostname} → ${to.hostname}: API call to job succeeded ${run.apiMs} ms`);
    const i = await s.instance(vm.id);
    expect([i.status, i.host]).toEqual(["ACTIVE", to.hostname]);
    expect(await to.running()).toEqual([vm.uuid]);
    // Undefined on the old host, its disk kept (shared storage): nothing of it there any more.
    expect((await execa("virsh", ["-c", from.daemon.uri, "list", "--all", "--uuid"])).stdout.trim()).toBe("");
    await s.booted(vm, 2);
    expect(await readToken()).toBe(`GUEST-READ vda ${TOKEN_OFFSET} ${token}`);
    await s.cloud.waitFor("capacity moved", async () => (await adminHost(from)).allocated.vms === 0 && (await adminHost(to)).allocated.vms === 1, 10_000);
  }, 240_000);

  it("puts the VM's host into maintenance: the VM is live-migrated off, the host is in Maintenance, and a cancel enables it again", async () => {
    const from = s.host((await s.instance(vm.id)).host as string);
    const to = s.hosts.find((h) => h !== from)!;
    const started = await s.cloud.api("POST", `/v1/admin/hosts/${from.id}/maintenance`, {});
    expect(started.status, JSON.stringify(started.json)).toBe(202);
    const t = Date.now();
    const m = await s.cloud.waitFor("the host in Maintenance", async () => {
      const r = (await s.cloud.api("GET", `/v1/admin/hosts/${from.id}/maintenance`)).json.maintenance;
      return r?.resource_state === "Maintenance" && r;
    }, 120_000).catch((e: unknown) => { throw new Error(`${String(e)}\n${s.logs()}`); });
    figures.push(`maintenance of ${from.hostname}: Maintenance ${Date.now() - t} ms after the request`);
    expect(m).toMatchObject({ vms_total: 1, vms_moved: 1, vms_remaining: 0 });
    const i = await s.instance(vm.id);
    expect([i.status, i.host]).toEqual(["ACTIVE", to.hostname]);
    expect(await to.running()).toEqual([vm.uuid]);
    expect(await from.running()).toEqual([]);
    expect(await readToken()).toBe(`GUEST-READ vda ${TOKEN_OFFSET} ${token}`);
    // No placement on a host in maintenance.
    expect((await adminHost(from)).resource_state).toBe("Maintenance");
    expect((await s.cloud.api("DELETE", `/v1/admin/hosts/${from.id}/maintenance`)).status).toBe(200);
    expect((await adminHost(from)).resource_state).toBe("Enabled");
  }, 240_000);

  it("host removal: refused while the host holds the VM (naming it); once maintenance has drained it, removed", async () => {
    const holder = s.host((await s.instance(vm.id)).host as string);
    const other = s.hosts.find((h) => h !== holder)!;
    // Out of service but still holding the VM: refused, the VM named.
    expect((await s.cloud.api("PUT", `/v1/admin/hosts/${holder.id}`, { resource_state: "Disabled" })).status).toBe(200);
    const refused = await s.cloud.api("DELETE", `/v1/admin/hosts/${holder.id}`);
    expect(refused.status, JSON.stringify(refused.json)).toBe(409);
    expect(refused.json.message).toContain(`VMs ${vm.id} (Running)`);
    expect(refused.json.state).toBe("Disabled");
    expect((await adminHost(holder)).resource_state).toBe("Disabled");
    expect(await holder.running()).toEqual([vm.uuid]);

    // Maintenance (from Disabled) moves the VM off live; then the empty host is removed.
    expect((await s.cloud.api("POST", `/v1/admin/hosts/${holder.id}/maintenance`, {})).status).toBe(202);
    await s.cloud.waitFor("the host drained, in Maintenance", async () =>
      (await s.cloud.api("GET", `/v1/admin/hosts/${holder.id}/maintenance`)).json.maintenance?.resource_state === "Maintenance", 120_000)
      .catch((e: unknown) => { throw new Error(`${String(e)}\n${s.logs()}`); });
    expect((await s.instance(vm.id)).host).toBe(other.hostname);
    expect(await other.running()).toEqual([vm.uuid]);
    const t = Date.now();
    const removed = await s.cloud.api("DELETE", `/v1/admin/hosts/${holder.id}`);
    expect(removed.status, JSON.stringify(removed.json)).toBe(200);
    expect(removed.json.host).toMatchObject({ id: holder.id });
    figures.push(`host removal after maintenance: ${Date.now() - t} ms`);
    // (Its agent, still running with the cluster's join token in its agent.yaml, joins again as
    // the same host afterwards: a removal is for a host whose agent was stopped.)
    // The VM runs on, on the host left; nothing of it on the removed one.
    expect(await readToken()).toBe(`GUEST-READ vda ${TOKEN_OFFSET} ${token}`);
    expect((await execa("virsh", ["-c", holder.daemon.uri, "list", "--all", "--uuid"])).stdout.trim()).toBe("");
  }, 240_000);

  it("deletes the VM: no domain left on either host", async () => {
    expect((await s.cloud.api("DELETE", `/v1/core/virtual-machines/${vm.id}`)).status).toBe(200);
    await s.cloud.waitFor("the domain gone", async () => (await source.running()).length + (await destination.running()).length === 0, 60_000);
  }, 90_000);
});
