// VM snapshots through the whole stack on real libvirt (issue 14): the manager's REST API and
// snapshot jobs, gRPC, an agent whose LibvirtHypervisor takes internal qcow2 snapshots of a
// booted test guest (build-test-guest.sh) on a sandboxed libvirtd. The data is written and read
// by the guest itself, typed on its serial console: raw bytes of its root disk vda (orbit-write,
// orbit-read) and files on its data volume vdb (orbit-file-*: an ext2 file system the guest makes).
// A marker written (a file created), a snapshot, the marker overwritten (the file deleted), the
// revert, and the guest reads the marker (the file) back: after booting again when the revert left
// the VM stopped; with no new GUEST-READY after a memory snapshot's revert (it resumed where it was).
// Tests run in order.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { eq } from "drizzle-orm";
import { execa } from "execa";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SnapshotTimeoutError } from "../../agent/src/drivers/hypervisor.js";
import { parseDomainDisks } from "../../agent/src/drivers/libvirt/domain-disks.parser.js";
import { missingTools } from "../../agent/src/drivers/libvirt/tool-availability.js";
import { jobs } from "../../manager/src/db/schema.js";
import type { TestCloud } from "../e2e/harness.js";
import { countOf, lastGuestReport } from "./guest-console.js";
import { REQUIRED_TOOLS, type SandboxedLibvirtd } from "./sandboxed-libvirtd.js";
import { libvirtTestStack, type TestGuestHypervisor } from "./libvirt-test-host.js";

const missing = missingTools([...REQUIRED_TOOLS, "nft", "ip"]);
const notRoot = process.getuid?.() !== 0;
const reason = missing.length > 0 ? `${missing.join(", ")} not installed` : notRoot ? "needs root" : "";
const skip = reason !== "" && !process.env.CI;
if (skip) console.warn(`real-libvirt snapshots e2e skipped: ${reason} (bash scripts/install-system-deps.sh)`);

interface Vm { id: number; uuid: string }

const MiB = 1024 * 1024;
/** The guest's trimmed console lines that start with this text. */
/** Complete lines only: the serial log is read while the guest writes it, so its last line may be half there. */
const linesStarting = (log: string, prefix: string): string[] =>
  log.slice(0, log.lastIndexOf("\n") + 1).split(/\r?\n/).map((l) => l.trim()).filter((l) => l.startsWith(prefix));

describe.skipIf(skip)(`VM snapshots through manager and agent on a real libvirtd${reason ? ` (${reason})` : ""}`, () => {
  let daemon: SandboxedLibvirtd | undefined;
  let cloud: TestCloud | undefined;
  let hv: TestGuestHypervisor;
  let work: string;
  let vm: Vm;
  const timings: string[] = [];

  const serial = (): string => (existsSync(hv.serialLogPath(vm.uuid)) ? readFileSync(hv.serialLogPath(vm.uuid), "utf8") : "");
  const rootDisk = () => join(work, "instances", vm.uuid, "root.qcow2");
  const instance = async () => (await cloud!.api("GET", `/v1/core/virtual-machines/${vm.id}`)).json.instance;
  const waitSerial = (what: string, fn: (log: string) => boolean, timeoutMs = 60_000): Promise<true> =>
    cloud!.waitFor(what, async () => fn(serial()) || undefined, timeoutMs).catch((e: unknown) => {
      throw new Error(`${String(e)}\n--- serial log (tail)\n${serial().slice(-2500)}`);
    });
  const jobDone = async (jobId: number) => {
    await cloud!.waitFor(`job ${jobId}`, async () => {
      const [j] = await cloud!.manager.database.db.select().from(jobs).where(eq(jobs.id, jobId));
      return j && (j.status === "succeeded" || j.status === "failed") ? j : undefined;
    }, 120_000);
    const [job] = await cloud!.manager.database.db.select().from(jobs).where(eq(jobs.id, jobId));
    expect(job?.status, `${JSON.stringify(job?.error)}\n${daemon!.logs()}`).toBe("succeeded");
    return job!;
  };
  const power = async (action: "start" | "stop", status: string) => {
    const r = await cloud!.api("GET", `/v1/core/virtual-machines/${vm.id}/${action}`);
    expect(r.status, JSON.stringify(r.json)).toBe(200);
    await jobDone(r.json.job_id);
    expect((await instance()).status).toBe(status);
  };
  const takeSnapshot = async (body: Record<string, unknown>) => {
    const t = Date.now();
    const r = await cloud!.api("POST", `/v1/core/virtual-machines/${vm.id}/snapshots`, { description: "", ...body });
    expect(r.status, JSON.stringify(r.json)).toBe(201);
    await jobDone(r.json.job_id);
    timings.push(`snapshot ${String(body.name)} ${Date.now() - t} ms`);
    return (await cloud!.api("GET", `/v1/core/snapshots/${r.json.snapshot.id}`)).json.snapshot;
  };
  const revert = async (id: number) => {
    const t = Date.now();
    const r = await cloud!.api("POST", `/v1/core/snapshots/${id}/revert`);
    expect(r.status, JSON.stringify(r.json)).toBe(200);
    const job = await jobDone(r.json.job_id);
    timings.push(`revert to ${id} ${Date.now() - t} ms`);
    return job;
  };
  /** Types a command on the guest's console; its answer is the first new line starting with `answer` (a GUEST-FAILED fails the test). */
  const guestCommand = async (command: string, answer: string): Promise<string> => {
    const seen = linesStarting(serial(), answer).length;
    const failed = countOf(serial(), "GUEST-FAILED");
    const c = await hv.openConsole(vm.uuid);
    try {
      c.write(`${command}\n`);
      await waitSerial(`the guest's answer to "${command}"`, (l) => linesStarting(l, answer).length > seen || countOf(l, "GUEST-FAILED") > failed, 60_000);
    } finally {
      c.destroy();
    }
    const log = serial();
    expect(countOf(log, "GUEST-FAILED"), `the guest failed "${command}"\n${log.slice(-2000)}`).toBe(failed);
    return linesStarting(log, answer)[seen]!;
  };
  /** The guest writes text at a byte offset of one of its disks (vda: root, vdb: the data volume) and syncs it. */
  const guestWrite = async (dev: string, offset: number, text: string) => {
    expect(await guestCommand(`orbit-write ${dev} ${offset} ${text}`, `GUEST-WROTE ${dev} ${offset} `)).toBe(`GUEST-WROTE ${dev} ${offset} ${text.length}`);
  };
  /** What the guest reads there (past its page cache): the text, or "hex:..." when not all printable. */
  const guestRead = async (dev: string, offset: number, length: number): Promise<string> => {
    const prefix = `GUEST-READ ${dev} ${offset} `;
    return (await guestCommand(`orbit-read ${dev} ${offset} ${length}`, prefix)).slice(prefix.length);
  };
  /** The guest writes a file on a disk's file system (made on first use), deletes it, reads it ("text:..." or "absent"). */
  const guestFileWrite = async (dev: string, name: string, text: string) => {
    expect(await guestCommand(`orbit-file-write ${dev} ${name} ${text}`, `GUEST-FILE-WROTE ${dev} ${name} `)).toBe(`GUEST-FILE-WROTE ${dev} ${name} ${text.length}`);
  };
  const guestFileDelete = async (dev: string, name: string) => {
    expect(await guestCommand(`orbit-file-delete ${dev} ${name}`, `GUEST-FILE-DELETED ${dev} ${name}`)).toBe(`GUEST-FILE-DELETED ${dev} ${name}`);
  };
  const guestFileRead = async (dev: string, name: string): Promise<string> => {
    const prefix = `GUEST-FILE-READ ${dev} ${name} `;
    return (await guestCommand(`orbit-file-read ${dev} ${name}`, prefix)).slice(prefix.length);
  };
  /** Starts the stopped VM and waits for the guest to boot (again) and see its data volume. */
  const startAndBoot = async () => {
    const booted = countOf(serial(), "GUEST-READY");
    await power("start", "ACTIVE");
    await waitSerial("the guest booted again, with its vdb", (l) => countOf(l, "GUEST-READY") > booted && (lastGuestReport(l.slice(l.lastIndexOf("GUEST-READY")), "GUEST-DISKS")?.has("vdb") ?? false));
  };

  const stack = libvirtTestStack();
  beforeAll(async () => {
    if (reason) throw new Error(`real-libvirt tests cannot run: ${reason} (CI must install libvirt-daemon, qemu-system-x86, qemu-utils, genisoimage, nftables)`);
    // Each VM's root is an overlay of a blank 64 MiB qcow2 (the guest boots from its kernel and initrd).
    ({ cloud, hv, daemon, work } = await stack.start({
      workPrefix: "orbit-e2e-snapshots-", hostname: "libvirt-snapshots-host", blankBaseImage: true,
      settings: { "vmsnapshot.create.wait": 300 },
    }));
    const r = await cloud.api("POST", "/v1/core/virtual-machines", { name: "snap-guest", flavor_name: "t1-tiny", image_name: "Debian 12" });
    expect(r.status, JSON.stringify(r.json)).toBe(200);
    vm = { id: r.json.instances[0].id, uuid: r.json.instances[0].uuid };
    await cloud.waitFor("the VM ACTIVE", async () => {
      const x = await instance();
      if (x?.status === "ERROR") throw new Error(`deploy failed: ${x.state_reason}\n${daemon!.logs()}`);
      return x?.status === "ACTIVE";
    }, 60_000);
    await waitSerial("GUEST-READY", (l) => l.includes("GUEST-READY"));
  }, 300_000);

  afterAll(async () => {
    if (timings.length) console.info(`snapshots e2e on QEMU/TCG: ${timings.join(", ")}`);
    await stack.stop();
  }, 60_000);

  let diskSnapshot: Record<string, any>;

  let volumeDisk: string;

  it("a stopped VM's snapshot keeps its disks (root and a data volume): once reverted, the file the guest deleted is back, what it wrote after is gone", async () => {
    await power("stop", "SHUTOFF");
    // A data volume, attached before any snapshot (none attaches or detaches while snapshots exist).
    const created = await cloud!.api("POST", "/v1/core/volumes", { name: "snap-data", environment_name: "default", volume_type: "local", size: 1 });
    expect(created.status, JSON.stringify(created.json)).toBe(200);
    const att = await cloud!.api("POST", `/v1/core/virtual-machines/${vm.id}/attach-volumes`, { volume_ids: [created.json.volume.id] });
    expect(att.status, JSON.stringify(att.json)).toBe(200);
    await jobDone(att.json.volume_attachments[0].job_id);
    volumeDisk = parseDomainDisks(await hv.virsh.run(["dumpxml", "--inactive", vm.uuid])).find((d) => d.targetDev === "vdb")!.sourcePath;
    expect(existsSync(volumeDisk)).toBe(true);
    await startAndBoot();
    await guestWrite("vda", MiB, "root-kept-1");
    await guestFileWrite("vdb", "kept.txt", "data kept 1");
    await power("stop", "SHUTOFF");
    diskSnapshot = await takeSnapshot({ name: "disk-before" });
    expect(diskSnapshot).toMatchObject({ status: "Ready", memory: false, current: true });
    // An internal snapshot in the VM's own qcow2 and its volume's, known to libvirt under the row's host name.
    const [row] = await cloud!.manager.database.db.execute<{ host_name: string }>(`select host_name from vm_snapshots where id = ${diskSnapshot.id}`).then((x) => (Array.isArray(x) ? x : (x as { rows: { host_name: string }[] }).rows));
    expect(await hv.virsh.run(["snapshot-list", vm.uuid, "--name"])).toContain(row!.host_name);
    expect((await execa("qemu-img", ["snapshot", "-l", rootDisk()])).stdout).toContain(row!.host_name);
    expect((await execa("qemu-img", ["snapshot", "-l", volumeDisk])).stdout).toContain(row!.host_name);

    // The guest changes its data (and writes more) after the snapshot...
    await startAndBoot();
    expect(await guestRead("vda", MiB, 11)).toBe("root-kept-1");
    await guestWrite("vda", MiB, "root-gone-1");
    await guestWrite("vda", 2 * MiB, "written-after");
    expect(await guestFileRead("vdb", "kept.txt")).toBe("text:data kept 1");
    await guestFileDelete("vdb", "kept.txt");
    await guestFileWrite("vdb", "after.txt", "written after");
    expect(await guestRead("vda", MiB, 11)).toBe("root-gone-1");
    expect(await guestFileRead("vdb", "kept.txt")).toBe("absent");
    // ...and the revert, of the running VM to a snapshot without memory, leaves it stopped with its disks as they were.
    const job = await revert(diskSnapshot.id);
    expect(job.result).toMatchObject({ vm_state: "Stopped" });
    expect((await instance()).status).toBe("SHUTOFF");
    await startAndBoot();
    expect(await guestRead("vda", MiB, 11)).toBe("root-kept-1");
    expect(await guestRead("vda", 2 * MiB, 13)).toBe(`hex:${"00".repeat(13)}`);
    expect(await guestFileRead("vdb", "kept.txt")).toBe("text:data kept 1");
    expect(await guestFileRead("vdb", "after.txt")).toBe("absent");
  }, 420_000);

  it("a memory snapshot of a running guest, reverted, resumes it running where it was (no new boot): its deleted file is back, its data as it was", async () => {
    await guestWrite("vda", MiB, "mem-kept-22");
    await guestFileWrite("vdb", "mem.txt", "mem data 22");
    const snap = await takeSnapshot({ name: "running", memory: true });
    expect(snap).toMatchObject({ status: "Ready", memory: true, parent_id: diskSnapshot.id, current: true });
    // Its saved memory, measured by qemu-img, is on the row (to count against the pool later).
    expect(snap.size_bytes).toBeGreaterThan(1024 * 1024);

    await guestWrite("vda", MiB, "mem-gone-22");
    await guestFileDelete("vdb", "mem.txt");
    expect(await guestRead("vda", MiB, 11)).toBe("mem-gone-22");
    expect(await guestFileRead("vdb", "mem.txt")).toBe("absent");
    const booted = countOf(serial(), "GUEST-READY");
    const job = await revert(snap.id);
    expect(job.result).toMatchObject({ vm_state: "Running" });
    expect((await instance()).status).toBe("ACTIVE");
    expect((await hv.virsh.run(["domstate", vm.uuid])).trim()).toBe("running");
    // The guest continues from the snapshot: it answers its console, reads what it had written, and did not boot again.
    expect(await guestRead("vda", MiB, 11)).toBe("mem-kept-22");
    expect(await guestFileRead("vdb", "mem.txt")).toBe("text:mem data 22");
    expect(countOf(serial(), "GUEST-READY")).toBe(booted);
  }, 300_000);

  it("a running VM's snapshot without memory reverts to its disks only: the VM is stopped, and boots with its data as it was", async () => {
    await guestWrite("vda", MiB, "run-kept-33");
    await guestFileWrite("vdb", "run.txt", "run data 33");
    const snap = await takeSnapshot({ name: "running-disks" });
    expect(snap).toMatchObject({ status: "Ready", memory: false });
    await guestWrite("vda", MiB, "run-gone-33");
    await guestFileDelete("vdb", "run.txt");
    const job = await revert(snap.id);
    expect(job.result).toMatchObject({ vm_state: "Stopped" });
    expect((await hv.virsh.run(["domstate", vm.uuid])).trim()).toBe("shut off");
    await startAndBoot();
    expect(await guestRead("vda", MiB, 11)).toBe("run-kept-33");
    expect(await guestFileRead("vdb", "run.txt")).toBe("text:run data 33");
  }, 300_000);

  it("the driver: a snapshot past its timeout is abandoned, and nothing of it is left once libvirtd's job ends", async () => {
    expect((await instance()).status).toBe("ACTIVE");
    const before = (await hv.virsh.run(["snapshot-list", vm.uuid, "--name"])).trim();
    // 300 ms: virsh is killed before QEMU's savevm (seconds under TCG) is done, whether or not libvirtd got the call.
    const err = await hv.createSnapshot(vm.uuid, { name: "too-slow", memory: true, quiesce: false, timeoutMs: 300 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SnapshotTimeoutError);
    expect(err).toMatchObject({ code: "deadline_exceeded", retryable: false });
    expect((await hv.virsh.run(["snapshot-list", vm.uuid, "--name"])).trim()).toBe(before);
    expect((await execa("qemu-img", ["snapshot", "-U", "-l", rootDisk()])).stdout).not.toContain("too-slow");
    expect((await hv.virsh.run(["domstate", vm.uuid])).trim()).toBe("running");
  }, 120_000);

  it("deleting snapshots removes them from libvirt and the qcow2s; the VM's delete removes the rest, from its kept volume too", async () => {
    const r = await cloud!.api("DELETE", `/v1/core/snapshots/${diskSnapshot.id}`);
    expect(r.status, JSON.stringify(r.json)).toBe(200);
    await jobDone(r.json.job_id);
    expect((await cloud!.api("GET", `/v1/core/snapshots/${diskSnapshot.id}`)).status).toBe(404);
    const left = (await cloud!.api("GET", `/v1/core/virtual-machines/${vm.id}/snapshots`)).json.snapshots as { id: number }[];
    expect(left.length).toBe(2);
    expect((await hv.virsh.run(["snapshot-list", vm.uuid, "--name"])).trim().split("\n").length).toBe(2);

    const d = await cloud!.api("DELETE", `/v1/core/virtual-machines/${vm.id}`);
    expect(d.status, JSON.stringify(d.json)).toBe(200);
    await cloud!.waitFor("the VM gone", async () => (await cloud!.api("GET", `/v1/core/virtual-machines/${vm.id}`)).status === 404, 60_000);
    for (const s of left) expect((await cloud!.api("GET", `/v1/core/snapshots/${s.id}`)).status).toBe(404);
    expect(existsSync(rootDisk())).toBe(false);
    // The data volume outlives the VM (detached, kept), without the snapshots it held.
    expect(existsSync(volumeDisk)).toBe(true);
    const info = JSON.parse((await execa("qemu-img", ["info", "--output=json", "-U", volumeDisk])).stdout) as { snapshots?: unknown[] };
    expect(info.snapshots ?? []).toEqual([]);
  }, 120_000);
});
