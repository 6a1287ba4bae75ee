// Storage-motion live migration through the manager's admin API (issue 15) between two real
// libvirt hosts whose VM disks are local (libvirt-two-host-stack.ts with storage "local": each
// host's instances dir is its own, at the same path on both; the cluster keeps its local pool).
// A booted guest writes a token on its disk; a live migration without storage_motion is refused
// (409, reason local_storage) and changes nothing; one whose destination's libvirtd refuses the
// connection fails, the VM running on, the files made for it on the destination removed; with
// storage_motion the agent of the
// destination makes the disk files the copy needs (libvirt's --copy-storage-all), the VM runs on
// the other host without booting again and reads its token back there; nothing of it is left on
// the source (domain, disk files, capacity); the pool counts its root disk once throughout. Then
// it is deleted: no file of it left on either host. Tests run in order on one VM.
import { randomUUID } from "node:crypto";
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
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
if (skip) console.warn(`real-libvirt storage motion e2e skipped: ${reason} (bash scripts/install-system-deps.sh)`);

/** Where the guest writes its token: a byte offset on its root disk (vda, the blank base's overlay). */
const TOKEN_OFFSET = 8192;

describe.skipIf(skip)(`storage-motion live migration of a VM with local disks between two real libvirt hosts${reason ? ` (${reason})` : ""}`, () => {
  const stack = libvirtTwoHostStack();
  let s: LibvirtTwoHostStack;
  let vm: TestVm;
  let source: TestHost;
  let destination: TestHost;
  let poolBefore: Record<string, any>;
  const token = `tok-${randomUUID().slice(0, 12)}`;
  const figures: string[] = [];

  const adminHost = async (h: TestHost): Promise<Record<string, any>> =>
    ((await s.cloud.api("GET", "/v1/admin/hosts")).json.hosts as Record<string, any>[]).find((x) => x.id === h.id)!;
  /** The cluster's local storage pool (the only pool). */
  const pool = async (): Promise<Record<string, any>> => {
    const pools = (await s.cloud.api("GET", "/v1/admin/storage-pools")).json.storage_pools as Record<string, any>[];
    expect(pools.map((p) => p.kind)).toEqual(["local"]);
    return pools[0]!;
  };
  /** The VM's files in a host's instances dir (none: the directory is gone). */
  const filesOn = (h: TestHost): string[] => {
    const dir = join(h.instancesDir, vm.uuid);
    return existsSync(dir) ? readdirSync(dir).sort() : [];
  };
  const defined = async (h: TestHost): Promise<string> => (await execa("virsh", ["-c", h.daemon.uri, "list", "--all", "--uuid"])).stdout.trim();
  const readToken = (): Promise<string> => s.typeOnConsole(vm, `orbit-read vda ${TOKEN_OFFSET} ${token.length}`, `GUEST-READ vda ${TOKEN_OFFSET}`);

  beforeAll(async () => {
    if (reason) throw new Error(`real-libvirt tests cannot run: ${reason}`);
    s = await stack.start({ workPrefix: "orbit-smig-", settings: { "ping.interval": 1 }, storage: "local" });
  }, 180_000);

  afterAll(async () => {
    if (figures.length) console.info(`storage-motion live migration on QEMU/TCG: ${figures.join("; ")}`);
    await stack.stop();
    expect(await s?.footprint() ?? []).toEqual([]);
  }, 60_000);

  it("boots a VM on local storage; the guest writes a token on its disk", async () => {
    vm = await s.deploy({ name: "smig" });
    source = s.host((await s.instance(vm.id)).host as string);
    destination = s.hosts.find((h) => h !== source)!;
    await s.booted(vm);
    expect(await s.typeOnConsole(vm, `orbit-write vda ${TOKEN_OFFSET} ${token}`, "GUEST-WROTE")).toBe(`GUEST-WROTE vda ${TOKEN_OFFSET} ${token.length}`);
    // Its disk is on its host only.
    expect(filesOn(source)).toContain("root.qcow2");
    expect(filesOn(destination)).toEqual([]);
    poolBefore = await pool();
    expect(poolBefore.root_disk_count).toBe(1);
  }, 300_000);

  it("without storage_motion its live migration is refused (409, local_storage) and nothing changes", async () => {
    // Asked for a live move without storage motion, the candidates' listing itself is refused with the reason.
    const hostsR = await s.cloud.api("GET", `/v1/admin/virtual-machines/${vm.id}/migration-hosts?storage_motion=false`);
    expect(hostsR.status, JSON.stringify(hostsR.json)).toBe(409);
    expect(hostsR.json.reason).toBe("local_storage");
    // Unasked, it lists what a live move can do for a VM on local disks: one with storage motion.
    const auto = await s.cloud.api("GET", `/v1/admin/virtual-machines/${vm.id}/migration-hosts`);
    expect(auto.json.migration_hosts, JSON.stringify(auto.json)).toMatchObject({ mode: "live", storage_motion: true });
    expect(auto.json.migration_hosts.hosts).toEqual([{ host_id: destination.id, host_name: destination.hostname, suitable: true, reasons: [] }]);

    const r = await s.cloud.api("POST", `/v1/admin/virtual-machines/${vm.id}/migrate`, { host_id: destination.id, mode: "live" });
    expect(r.status, JSON.stringify(r.json)).toBe(409);
    expect(r.json.reason).toBe("local_storage");
    expect(r.json.message).toMatch(/storage_motion/);
    const i = await s.instance(vm.id);
    expect([i.status, i.host]).toEqual(["ACTIVE", source.hostname]);
    expect((await adminHost(destination)).allocated).toMatchObject({ vms: 0, vcpus: 0, memory_mib: 0 });
    expect(filesOn(destination)).toEqual([]);
  });

  it("a storage motion whose destination libvirtd cannot be reached fails: the VM stays Running on its host, the files made for the copy are removed", async () => {
    // The destination's agent prepares (its files made), then the source's libvirtd is refused on the destination's TCP port.
    const nft = (args: string[]) => execa("ip", ["netns", "exec", destination.net.name, "nft", ...args]);
    await nft(["add", "table", "inet", "orbit_test_block"]);
    await nft(["add", "chain", "inet", "orbit_test_block", "input", "{ type filter hook input priority -10; policy accept; }"]);
    await nft(["add", "rule", "inet", "orbit_test_block", "input", "tcp", "dport", "16509", "reject", "with", "tcp", "reset"]);
    try {
      const r = await s.cloud.api("POST", `/v1/admin/virtual-machines/${vm.id}/migrate`, { host_id: destination.id, mode: "live", storage_motion: true });
      expect(r.status, JSON.stringify(r.json)).toBe(200);
      const jobId = r.json.migration.job_id as number;
      const j = await s.cloud.waitFor(`migration job ${jobId}`, async () => {
        const x = (await s.cloud.api("GET", `/v1/core/jobs/${jobId}`)).json.job;
        return x.status === "succeeded" || x.status === "failed" ? x : undefined;
      }, 180_000);
      expect(j.status, JSON.stringify(j)).toBe("failed");
    } finally {
      await nft(["delete", "table", "inet", "orbit_test_block"]);
    }
    const i = await s.instance(vm.id);
    expect([i.status, i.host]).toEqual(["ACTIVE", source.hostname]);
    expect(await source.running()).toEqual([vm.uuid]);
    expect(await defined(destination)).toBe("");
    expect(filesOn(destination), s.logs()).toEqual([]);
    expect(filesOn(source)).toContain("root.qcow2");
    await s.cloud.waitFor("nothing held on the destination", async () => (await adminHost(destination)).allocated.vms === 0, 10_000);
    const p = await pool();
    expect([p.allocated_gib, p.root_disk_count]).toEqual([poolBefore.allocated_gib, poolBefore.root_disk_count]);
    expect(await readToken()).toBe(`GUEST-READ vda ${TOKEN_OFFSET} ${token}`);
  }, 240_000);

  it("with storage_motion it moves live with its disk: Running on the other host, the same guest, its token there", async () => {
    const t = Date.now();
    const r = await s.cloud.api("POST", `/v1/admin/virtual-machines/${vm.id}/migrate`, { host_id: destination.id, mode: "live", storage_motion: true });
    expect(r.status, JSON.stringify(r.json)).toBe(200);
    const { job_id: jobId, migration_id: migrationId } = r.json.migration as { job_id: number; migration_id: number };
    const statuses: string[] = [];
    let poolDuring: Record<string, any> | undefined;
    const job = await s.cloud.waitFor(`migration job ${jobId}`, async () => {
      const status = (await s.instance(vm.id)).status as string;
      if (statuses.at(-1) !== status) statuses.push(status);
      if (status === "MIGRATING") poolDuring ??= await pool();
      const j = (await s.cloud.api("GET", `/v1/core/jobs/${jobId}`)).json.job;
      return j.status === "succeeded" || j.status === "failed" ? j : undefined;
    }, 420_000).catch(async (e: unknown) => {
      const mig = (await s.cloud.api("GET", `/v1/admin/migrations/${migrationId}`)).json.migration;
      const j = (await s.cloud.api("GET", `/v1/core/jobs/${jobId}`)).json.job;
      throw new Error(`${String(e)}\n--- migration ${JSON.stringify(mig)}\n--- job ${JSON.stringify(j)}\n--- files ${JSON.stringify({ source: filesOn(source), destination: filesOn(destination) })}\n${s.logs()}`);
    });
    const apiMs = Date.now() - t;
    const m = (await s.cloud.api("GET", `/v1/admin/migrations/${migrationId}`)).json.migration;
    expect(job, `${JSON.stringify(job)}\n${JSON.stringify(m)}\n${s.logs()}`).toMatchObject({ status: "succeeded" });
    expect(m).toMatchObject({ state: "succeeded", mode: "live", storage_motion: true, source_host_id: source.id, destination_host_id: destination.id, error: null });
    expect(statuses).toContain("MIGRATING");
    figures.push(`${source.hostname} → ${destination.hostname} with its disk: downtime ${m.downtime_ms} ms, total ${m.total_ms} ms (migration record), API call to job succeeded ${apiMs} ms`);

    const i = await s.instance(vm.id);
    expect([i.status, i.host]).toEqual(["ACTIVE", destination.hostname]);
    expect(await destination.running()).toEqual([vm.uuid]);
    expect(await source.running()).toEqual([]);
    // The same guest: it reads back what it wrote on the source's disk, and never booted on the
    // destination (its serial log there, a new file, has no GUEST-READY).
    expect(await readToken()).toBe(`GUEST-READ vda ${TOKEN_OFFSET} ${token}`);
    expect(countOf(s.serialLog(vm.uuid), "GUEST-READY")).toBe(0);
    // The root disk counted once in the cluster's pool while it moved, and after.
    if (poolDuring) expect([poolDuring.allocated_gib, poolDuring.root_disk_count]).toEqual([poolBefore.allocated_gib, poolBefore.root_disk_count]);
    const after = await pool();
    expect([after.allocated_gib, after.root_disk_count]).toEqual([poolBefore.allocated_gib, poolBefore.root_disk_count]);
  }, 480_000);

  it("nothing of it is left on the source: no domain, no files, no capacity", async () => {
    expect(await defined(source)).toBe("");
    expect(filesOn(source)).toEqual([]);
    expect(filesOn(destination)).toContain("root.qcow2");
    await s.cloud.waitFor("the source's allocation released", async () => (await adminHost(source)).allocated.vms === 0, 10_000);
    expect((await adminHost(source)).allocated).toMatchObject({ vms: 0, vcpus: 0, memory_mib: 0 });
    expect((await adminHost(destination)).allocated).toMatchObject({ vms: 1 });
    expect((await adminHost(destination)).allocated.vcpus).toBeGreaterThan(0);
    // Its disk on the destination is an overlay of the same image (the destination's copy of it).
    const info = JSON.parse((await execa("qemu-img", ["info", "-U", "--output=json", join(destination.instancesDir, vm.uuid, "root.qcow2")])).stdout) as Record<string, any>;
    expect(info["backing-filename"]).toBe(join(s.imagesDir, "base.qcow2"));
  });

  it("deletes the VM: no domain and no file of it left on either host, its root disk gone from the pool", async () => {
    expect((await s.cloud.api("DELETE", `/v1/core/virtual-machines/${vm.id}`)).status).toBe(200);
    await s.cloud.waitFor("the domain and its files gone", async () =>
      (await defined(source)) === "" && (await defined(destination)) === "" && filesOn(destination).length === 0 && filesOn(source).length === 0, 60_000)
      .catch((e: unknown) => { throw new Error(`${String(e)}: left ${JSON.stringify({ source: filesOn(source), destination: filesOn(destination) })}\n${s.logs()}`); });
    await s.cloud.waitFor("the pool released", async () => (await pool()).root_disk_count === 0, 30_000);
  }, 90_000);
});
