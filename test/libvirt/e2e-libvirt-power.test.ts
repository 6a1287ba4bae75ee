// Power actions and console logs through the whole stack on real libvirt (issue 12): the REST API
// of a manager, its jobs, gRPC, an agent whose LibvirtHypervisor drives a sandboxed libvirtd, and
// a booted test guest (build-test-guest.sh) whose serial console tells what it went through:
// GUEST-READY on every boot, GUEST-POWERBUTTON when it was asked (ACPI) to power off. One guest
// for the whole file (QEMU/TCG is slow); the tests run in order and each leaves it as the next expects.
import { readFileSync, existsSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { missingTools } from "../../agent/src/drivers/libvirt/tool-availability.js";
import type { TestCloud } from "../e2e/harness.js";
import { countOf } from "./guest-console.js";
import { REQUIRED_TOOLS, type SandboxedLibvirtd } from "./sandboxed-libvirtd.js";
import { type GuestBoot, libvirtTestStack, type TestGuestHypervisor } from "./libvirt-test-host.js";

const missing = missingTools(REQUIRED_TOOLS);
const notRoot = process.getuid?.() !== 0;
const reason = missing.length > 0 ? `${missing.join(", ")} not installed` : notRoot ? "needs root" : "";
const skip = reason !== "" && !process.env.CI;
if (skip) console.warn(`real-libvirt power e2e skipped: ${reason} (bash scripts/install-system-deps.sh)`);

/** A VM labelled so boots the kernel without its initrd: it panics, and ignores ACPI from then on. */
const DEAF_LABEL = "test-guest-ignores-acpi";

/** Boots every VM on the test guest's kernel; a "deaf" one without its initrd (it ignores ACPI). */
const bootPower: GuestBoot = (spec, guest) => {
  const deaf = DEAF_LABEL in spec.labels;
  return { kernel: guest.kernel, initrd: deaf ? "" : guest.initrd, cmdline: `console=ttyS0 quiet ${deaf ? "panic=0" : "panic=-1"}` };
};

const SHUTDOWN_TIMEOUT_MS = 10_000;

describe.skipIf(skip)(`power actions and console logs through manager and agent on a real libvirtd${reason ? ` (${reason})` : ""}`, () => {
  let daemon: SandboxedLibvirtd | undefined;
  let cloud: TestCloud | undefined;
  let hv: TestGuestHypervisor;
  let work: string;
  let vm: { id: number; uuid: string };
  const timings: string[] = [];

  const serial = (): string => (existsSync(hv.serialLogPath(vm.uuid)) ? readFileSync(hv.serialLogPath(vm.uuid), "utf8") : "");
  const instance = async () => (await cloud!.api("GET", `/v1/core/virtual-machines/${vm.id}`)).json.instance;
  const domstate = async () => (await hv.virsh.run(["domstate", "--reason", vm.uuid])).trim();
  const waitSerial = (what: string, pred: (log: string) => boolean, timeoutMs = 30_000) => cloud!.waitFor(what, async () => pred(serial()), timeoutMs);
  /**
   * Waits for the guest's boot number `boots` to be up with its power-button watcher armed: the
   * guest arms it after GUEST-READY and then prints GUEST-NETS (once a boot: its NIC has its seed address before the first report).
   */
  const booted = (boots: number) =>
    waitSerial(`boot ${boots} of the guest`, (l) => countOf(l, "GUEST-READY") === boots && countOf(l, "GUEST-NETS") === boots, 60_000)
      .catch((e: unknown) => { throw new Error(`${String(e)}\n--- serial log (tail)\n${serial().slice(-3000)}`); });

  /** Sends a power action, waits for its job to succeed and the VM to show `status`; the time it all took. */
  const act = async (action: string, status: string): Promise<number> => {
    const t = Date.now();
    const r = await cloud!.api("POST", `/v1/core/virtual-machines/${vm.id}/${action}`);
    expect(r.status, JSON.stringify(r.json)).toBe(200);
    const job = await cloud!.waitFor(`the ${action} job`, async () => {
      const j = (await cloud!.api("GET", `/v1/core/jobs/${r.json.job_id}`)).json.job;
      return j.status === "succeeded" || j.status === "failed" ? j : undefined;
    }, 90_000);
    expect(job, `${action}: ${JSON.stringify(job.error)}\n${daemon!.logs()}`).toMatchObject({ status: "succeeded", kind: expect.stringMatching(/^vm\./) });
    await cloud!.waitFor(`${status} after ${action}`, async () => (await instance()).status === status, 30_000);
    const ms = Date.now() - t;
    timings.push(`${action} ${ms} ms`);
    return ms;
  };

  /** The console logs pair: POST asks the host, GET (again while pending) answers. */
  const consoleLogs = async (length?: number): Promise<{ logs: string; truncated: boolean }> => {
    const asked = await cloud!.api("POST", `/v1/core/virtual-machines/${vm.id}/logs`, length === undefined ? {} : { length });
    expect(asked.status, JSON.stringify(asked.json)).toBe(200);
    return cloud!.waitFor("the console logs", async () => {
      const r = await cloud!.api("GET", `/v1/core/virtual-machines/${vm.id}/logs?request_id=${asked.json.request_id}`);
      expect(r.status, JSON.stringify(r.json)).toBe(200);
      return r.json.request_status === "succeeded" ? { logs: r.json.logs as string, truncated: r.json.truncated as boolean } : undefined;
    }, 30_000);
  };

  const stack = libvirtTestStack();
  beforeAll(async () => {
    if (reason) throw new Error(`real-libvirt tests cannot run: ${reason} (CI must install libvirt-daemon, qemu-system-x86, qemu-utils, genisoimage)`);
    // Every VM has a NIC on its network's bridge, and a firewall: both made in a namespace of the test's.
    // The guest gets 10 s for an ACPI shutdown (it takes one or two); the default is two minutes.
    ({ cloud, hv, daemon, work } = await stack.start({
      workPrefix: "orbit-e2e-power-", hostname: "libvirt-power-host", boot: bootPower,
      settings: { "vm.shutdown.timeout.ms": SHUTDOWN_TIMEOUT_MS },
    }));
  }, 300_000);

  afterAll(async () => {
    if (timings.length) console.info(`power e2e on QEMU/TCG (API call to settled status): ${timings.join(", ")}`);
    await stack.stop();
  }, 60_000);

  it("deploys a VM that boots the guest; the console logs pair returns its serial output", async () => {
    const t = Date.now();
    const created = await cloud!.api("POST", "/v1/core/virtual-machines", { name: "power", flavor_name: "t1-tiny", image_name: "Debian 12" });
    expect(created.status, JSON.stringify(created.json)).toBe(200);
    vm = { id: created.json.instances[0].id, uuid: created.json.instances[0].uuid };
    await cloud!.waitFor("ACTIVE", async () => {
      const i = await instance();
      if (i?.status === "ERROR") throw new Error(`deploy failed: ${i.state_reason}\n${daemon!.logs()}`);
      return i?.status === "ACTIVE";
    }, 60_000);
    timings.push(`create ${Date.now() - t} ms`);
    await booted(1);
    timings.push(`create to GUEST-READY ${Date.now() - t} ms`);

    const t2 = Date.now();
    const { logs, truncated } = await consoleLogs();
    timings.push(`console logs request+fetch ${Date.now() - t2} ms`);
    expect(truncated).toBe(false);
    // The guest's own line, with the flavor's size as the guest counts it.
    const ready = /^GUEST-READY (\S+) cpus=(\d+) mem_kb=(\d+)\r?$/m.exec(logs);
    expect(ready, logs).not.toBeNull();
    expect(ready![2]).toBe("1");
    expect(Number(ready![3])).toBeGreaterThan(64 * 1024);
    expect(Number(ready![3])).toBeLessThanOrEqual(128 * 1024);
    // The same bytes the host's serial log holds, not something made up on the way.
    expect(serial().startsWith(logs.replace(/\n$/, ""))).toBe(true);
    // Asked for the last line only.
    const last = await consoleLogs(1);
    expect(last.truncated).toBe(true);
    expect(last.logs.trim().split("\n")).toHaveLength(1);
    expect(serial().trimEnd().endsWith(last.logs.trim())).toBe(true);
  }, 120_000);

  it("reboot (ACPI): the guest is asked, boots again, and the VM stays ACTIVE", async () => {
    const log = serial();
    const t = Date.now();
    await act("reboot", "ACTIVE");
    await waitSerial("GUEST-POWERBUTTON", (l) => countOf(l, "GUEST-POWERBUTTON") > countOf(log, "GUEST-POWERBUTTON"));
    timings.push(`reboot to GUEST-POWERBUTTON ${Date.now() - t} ms`);
    await booted(2);
    timings.push(`reboot to GUEST-READY ${Date.now() - t} ms`);
    // libvirt's ACPI reboot presses the power button; QEMU restarts the guest instead of exiting.
    expect(countOf(serial(), "GUEST-POWERBUTTON")).toBe(countOf(log, "GUEST-POWERBUTTON") + 1);
    expect(await domstate()).toMatch(/^running/);
  }, 120_000);

  it("hard-reboot: reset without asking the guest, which boots again; the VM stays ACTIVE", async () => {
    const log = serial();
    const t = Date.now();
    await act("hard-reboot", "ACTIVE");
    await booted(3);
    timings.push(`hard-reboot to GUEST-READY ${Date.now() - t} ms`);
    expect(countOf(serial(), "GUEST-POWERBUTTON")).toBe(countOf(log, "GUEST-POWERBUTTON"));
    expect(await domstate()).toMatch(/^running/);
  }, 120_000);

  it("hibernate: memory saved on the host, HIBERNATED; hibernate-restore (or start) continues the guest without a boot", async () => {
    const log = serial();
    await act("hibernate", "HIBERNATED");
    expect(await domstate()).toBe("shut off (saved)");
    expect(await hv.virsh.run(["dominfo", vm.uuid])).toMatch(/^Managed save:\s+yes/m);
    await act("hibernate-restore", "ACTIVE");
    expect(await domstate()).toMatch(/^running \((restored|booted)\)/);
    expect(await hv.virsh.run(["dominfo", vm.uuid])).toMatch(/^Managed save:\s+no/m);
    // Hyperstack's start of a hibernated VM restores it too.
    await act("hibernate", "HIBERNATED");
    await act("start", "ACTIVE");
    expect(await domstate()).toMatch(/^running \((restored|booted)\)/);
    expect(countOf(serial(), "GUEST-READY")).toBe(countOf(log, "GUEST-READY"));
  }, 120_000);

  it("shutdown (ACPI): the restored guest sees the power button and powers itself off; SHUTOFF", async () => {
    const log = serial();
    await act("shutdown", "SHUTOFF");
    // The guest printed this after the restore: it ran on from the saved memory.
    expect(countOf(serial(), "GUEST-POWERBUTTON")).toBe(countOf(log, "GUEST-POWERBUTTON") + 1);
    expect(countOf(serial(), "GUEST-READY")).toBe(countOf(log, "GUEST-READY"));
    expect(await domstate()).toBe("shut off (shutdown)");
    expect((await instance()).state_reason).toMatch(/ACPI/);
  }, 120_000);

  it("start boots it again; stop powers it off without asking the guest", async () => {
    await act("start", "ACTIVE");
    await booted(4);
    const log = serial();
    await act("stop", "SHUTOFF");
    expect(countOf(serial(), "GUEST-POWERBUTTON")).toBe(countOf(log, "GUEST-POWERBUTTON"));
    expect(await domstate()).toBe("shut off (destroyed)");
  }, 120_000);

  it("the console logs of the shut-off VM still hold every boot", async () => {
    const { logs } = await consoleLogs();
    // Deploy, reboot, hard-reboot and start: four boots, two ACPI presses seen (reboot, shutdown).
    expect(countOf(logs, "GUEST-READY")).toBe(4);
    expect(countOf(logs, "GUEST-POWERBUTTON")).toBe(2);
  }, 60_000);

  it("deletes the VM: its domain is undefined in libvirt", async () => {
    expect((await cloud!.api("DELETE", `/v1/core/virtual-machines/${vm.id}`)).status).toBe(200);
    await cloud!.waitFor("gone", async () => (await cloud!.api("GET", `/v1/core/virtual-machines/${vm.id}`)).status === 404, 60_000);
    expect((await hv.listDomains()).some((d) => d.vmUuid === vm.uuid)).toBe(false);
    expect(existsSync(join(work, "instances", vm.uuid))).toBe(false);
  }, 90_000);

  // After the first VM is deleted: this 2-CPU host takes one VM under the cluster CPU threshold.
  it("shutdown of a guest that ignores ACPI: the job fails after the timeout, the VM stays ACTIVE saying why; stop powers it off", async () => {
    const created = await cloud!.api("POST", "/v1/core/virtual-machines", { name: "deaf", flavor_name: "t1-tiny", image_name: "Debian 12", labels: [DEAF_LABEL] });
    expect(created.status, JSON.stringify(created.json)).toBe(200);
    const deaf = { id: created.json.instances[0].id as number, uuid: created.json.instances[0].uuid as string };
    const get = async () => (await cloud!.api("GET", `/v1/core/virtual-machines/${deaf.id}`)).json.instance;
    await cloud!.waitFor("the deaf VM ACTIVE", async () => (await get())?.status === "ACTIVE", 60_000);
    await cloud!.waitFor("its kernel panic", async () => existsSync(hv.serialLogPath(deaf.uuid)) && /Kernel panic/.test(readFileSync(hv.serialLogPath(deaf.uuid), "utf8")), 60_000);
    const t = Date.now();
    const r = await cloud!.api("POST", `/v1/core/virtual-machines/${deaf.id}/shutdown`);
    expect(r.status).toBe(200);
    const job = await cloud!.waitFor("the shutdown job to end", async () => {
      const j = (await cloud!.api("GET", `/v1/core/jobs/${r.json.job_id}`)).json.job;
      return j.status === "succeeded" || j.status === "failed" ? j : undefined;
    }, SHUTDOWN_TIMEOUT_MS + 60_000);
    timings.push(`shutdown ignored (timeout ${SHUTDOWN_TIMEOUT_MS} ms) ${Date.now() - t} ms`);
    expect(job).toMatchObject({ status: "failed", error: { code: "deadline_exceeded" } });
    expect(Date.now() - t).toBeGreaterThanOrEqual(SHUTDOWN_TIMEOUT_MS);
    const after = await get();
    expect(after.status).toBe("ACTIVE");
    expect(after.state_reason).toMatch(/did not shut down within 10000 ms/);
    expect((await hv.virsh.run(["domstate", deaf.uuid])).trim()).toBe("running");
    const t2 = Date.now();
    const stop = await cloud!.api("POST", `/v1/core/virtual-machines/${deaf.id}/stop`);
    expect(stop.status).toBe(200);
    await cloud!.waitFor("SHUTOFF", async () => (await get()).status === "SHUTOFF", 30_000);
    timings.push(`stop of the deaf VM ${Date.now() - t2} ms`);
    expect((await hv.virsh.run(["domstate", "--reason", deaf.uuid])).trim()).toBe("shut off (destroyed)");
    expect((await cloud!.api("DELETE", `/v1/core/virtual-machines/${deaf.id}`)).status).toBe(200);
    await cloud!.waitFor("the deaf VM gone", async () => (await cloud!.api("GET", `/v1/core/virtual-machines/${deaf.id}`)).status === 404, 60_000);
  }, 180_000);
});
