// Live migration driven by the manager (issue 15) on two real libvirt hosts
// (libvirt-two-host-stack.ts: two namespaces on one LAN, a sandboxed libvirtd and a real
// orbit-agent process each, shared storage): a booted guest is moved through the admin API
// (migration-hosts, migrate), shows Migrating, runs on the other host and is the same guest there
// (what it wrote to its disk before is read back through its console on the destination, and it
// never booted again); the hosts' capacity follows it; then back with host "auto"; then a
// destination whose libvirtd cannot be reached fails the migration and leaves the VM running on
// its source with nothing held on the destination. Tests run in order on one VM.
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
  /** API call to the job's success. */
  apiMs: number;
  /** Libvirt's downtime, as the job's result reports it. */
  downtimeMs: number;
  statuses: string[];
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

  /** The first number under a key naming downtime anywhere in the job's result. */
  const downtimeOf = (result: unknown): number | undefined => {
    if (!result || typeof result !== "object") return undefined;
    for (const [k, v] of Object.entries(result as Record<string, unknown>)) {
      if (/downtime/i.test(k) && typeof v === "number") return v;
      const inner = downtimeOf(v);
      if (inner !== undefined) return inner;
    }
    return undefined;
  };

  /** POST migrate; follows the VM's status and the job until the job ends; the job. */
  const migrate = async (body: Record<string, unknown>): Promise<{ job: Record<string, any>; run: Omit<MigrationRun, "downtimeMs"> }> => {
    const t = Date.now();
    const r = await s.cloud.api("POST", `/v1/admin/virtual-machines/${vm.id}/migrate`, body);
    expect(r.status, JSON.stringify(r.json)).toBe(200);
    const jobId = r.json.job_id as number;
    expect(jobId).toEqual(expect.any(Number));
    const statuses: string[] = [];
    const done = await s.cloud.waitFor(`migration job ${jobId}`, async () => {
      const status = (await s.instance(vm.id)).status as string;
      if (statuses.at(-1) !== status) statuses.push(status);
      const j = await job(jobId);
      return j.status === "succeeded" || j.status === "failed" ? j : undefined;
    }, 180_000).catch((e: unknown) => { throw new Error(`${String(e)}\n${s.logs()}`); });
    return { job: done, run: { apiMs: Date.now() - t, statuses } };
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
    const hosts = r.json.hosts as Record<string, any>[];
    const other = hosts.find((h) => (h.host_id ?? h.id) === destination.id);
    expect(other, JSON.stringify(r.json)).toMatchObject({ suitable: true });
    // Never the host it runs on.
    expect(hosts.some((h) => (h.host_id ?? h.id) === source.id)).toBe(false);
  });

  it("migrates it live to the other host: Migrating, then Running there, the same guest answering on its console", async () => {
    const { job: j, run } = await migrate({ host_id: destination.id, mode: "live" });
    expect(j, `${JSON.stringify(j)}\n${s.logs()}`).toMatchObject({ status: "succeeded" });
    expect(run.statuses).toContain("MIGRATING");
    expect(run.statuses.at(-1)).toBe("ACTIVE");
    const downtimeMs = downtimeOf(j.result);
    expect(downtimeMs, JSON.stringify(j.result)).toBeGreaterThan(0);
    figures.push(`${source.hostname} → ${destination.hostname}: API call to job succeeded ${run.apiMs} ms, downtime ${downtimeMs} ms (libvirt), job result ${JSON.stringify(j.result)}`);

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
    const { job: j, run } = await migrate({ host: "auto" });
    expect(j, `${JSON.stringify(j)}\n${s.logs()}`).toMatchObject({ status: "succeeded" });
    const downtimeMs = downtimeOf(j.result);
    expect(downtimeMs).toBeGreaterThan(0);
    figures.push(`${destination.hostname} → ${source.hostname} (auto): API call to job succeeded ${run.apiMs} ms, downtime ${downtimeMs} ms`);
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
      const { job: j } = await migrate({ host_id: destination.id, mode: "live" });
      expect(j.status, JSON.stringify(j)).toBe("failed");
      expect(JSON.stringify(j.error)).toMatch(/migrat/i);
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

  it("deletes the VM: no domain left on either host", async () => {
    expect((await s.cloud.api("DELETE", `/v1/core/virtual-machines/${vm.id}`)).status).toBe(200);
    await s.cloud.waitFor("the domain gone", async () => (await source.running()).length + (await destination.running()).length === 0, 60_000);
  }, 90_000);
});
