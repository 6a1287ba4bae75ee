// Dynamic scaling through the whole stack on real libvirt (issue 14): with enable.dynamic.scale.vm
// on, a VM's domain is defined with headroom (<vcpu current='1'>2</vcpu>, <memory> twice the
// flavor's with <currentMemory> the flavor's), and POST .../resize of the running VM hot-plugs a
// vCPU and moves the balloon; the guest (build-test-guest.sh) reports what it sees on its serial
// console: GUEST-SIZE with /sys/devices/system/cpu/online, its online CPUs and MemTotal. Memory is
// then given back live down to what the VM booted with. One guest.
import { existsSync, readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { missingTools } from "../../agent/src/drivers/libvirt/tool-availability.js";
import type { TestCloud } from "../e2e/harness.js";
import { countOf, lastGuestReport } from "./guest-console.js";
import { REQUIRED_TOOLS, type SandboxedLibvirtd } from "./sandboxed-libvirtd.js";
import { libvirtTestStack, type TestGuestHypervisor } from "./libvirt-test-host.js";

const missing = missingTools(REQUIRED_TOOLS);
const notRoot = process.getuid?.() !== 0;
const reason = missing.length > 0 ? `${missing.join(", ")} not installed` : notRoot ? "needs root" : "";
const skip = reason !== "" && !process.env.CI;
if (skip) console.warn(`real-libvirt scaling e2e skipped: ${reason} (bash scripts/install-system-deps.sh)`);

/** t1-tiny twice over: what its headroom allows (the test host has 2 CPUs). */
const BIGGER = { name: "t1-tiny-x2", cpu: 2, ram: 0.25, disk: 0 };
/** Its vCPUs with t1-tiny's memory: a live memory decrease down to what the VM booted with. */
const LESS_MEMORY = { name: "t1-tiny-2c", cpu: 2, ram: 0.125, disk: 0 };

describe.skipIf(skip)(`live scaling of a running VM through manager and agent on a real libvirtd${reason ? ` (${reason})` : ""}`, () => {
  let cloud: TestCloud | undefined;
  let daemon: SandboxedLibvirtd | undefined;
  let hv: TestGuestHypervisor;
  let vm: { id: number; uuid: string };
  const timings: string[] = [];

  const serial = (): string => (existsSync(hv.serialLogPath(vm.uuid)) ? readFileSync(hv.serialLogPath(vm.uuid), "utf8") : "");
  const instance = async () => (await cloud!.api("GET", `/v1/core/virtual-machines/${vm.id}`)).json.instance;
  const guestSize = () => lastGuestReport(serial(), "GUEST-SIZE");
  const withLog = (e: unknown): never => { throw new Error(`${String(e)}\n--- serial log (tail)\n${serial().slice(-3000)}`); };

  const stack = libvirtTestStack();
  beforeAll(async () => {
    if (reason) throw new Error(`real-libvirt tests cannot run: ${reason} (CI must install libvirt-daemon, qemu-system-x86, qemu-utils, genisoimage)`);
    // The 2-CPU test host runs the 2-vCPU flavor only with its cluster allowed to be fully allocated.
    ({ cloud, hv, daemon } = await stack.start({
      workPrefix: "orbit-e2e-scaling-", hostname: "libvirt-scaling-host",
      settings: { "enable.dynamic.scale.vm": true, "cluster.cpu.allocated.capacity.disablethreshold": 1 },
    }));
    for (const f of [BIGGER, LESS_MEMORY]) {
      const flavor = await cloud!.api("POST", "/v1/admin/flavors", f);
      expect(flavor.status, JSON.stringify(flavor.json)).toBe(201);
    }
  }, 300_000);

  afterAll(async () => {
    if (timings.length) console.info(`scaling e2e on QEMU/TCG: ${timings.join(", ")}`);
    await stack.stop();
  }, 60_000);

  it("deploys a VM whose domain has headroom: 1 of 2 vCPUs, 128 of 256 MiB; the guest sees 1 CPU and about 128 MiB", async () => {
    const created = await cloud!.api("POST", "/v1/core/virtual-machines", { name: "scaled", flavor_name: "t1-tiny", image_name: "Debian 12" });
    expect(created.status, JSON.stringify(created.json)).toBe(200);
    vm = { id: created.json.instances[0].id, uuid: created.json.instances[0].uuid };
    await cloud!.waitFor("ACTIVE", async () => {
      const i = await instance();
      if (i?.status === "ERROR") throw new Error(`deploy failed: ${i.state_reason}\n${daemon!.logs()}`);
      return i?.status === "ACTIVE";
    }, 60_000);
    // The definition (the live XML's currentMemory is where the balloon has got to).
    const xml = await hv.virsh.run(["dumpxml", "--inactive", vm.uuid]);
    expect(xml).toMatch(/<vcpu placement='static' current='1'>2<\/vcpu>/);
    expect(xml).toMatch(/<memory unit='KiB'>262144<\/memory>/);
    expect(xml).toMatch(/<currentMemory unit='KiB'>131072<\/currentMemory>/);
    // Booted with 256 MiB, the balloon then takes back all but 128: MemTotal settles below 128 MiB.
    const booted = await cloud!.waitFor("the guest at its flavor's size", async () => {
      const s = guestSize();
      return s && s.get("cpus") === "1" && Number(s.get("mem_kb")) <= 128 * 1024 ? s : undefined;
    }, 90_000).catch(withLog);
    expect(booted.get("online")).toBe("0");
    expect(Number(booted.get("mem_kb"))).toBeGreaterThan(64 * 1024);
  }, 150_000);

  it("resizes the running VM to the bigger flavor: the guest sees 2 vCPUs online and about 256 MiB, the VM stays ACTIVE without a boot", async () => {
    const t = Date.now();
    const r = await cloud!.api("POST", `/v1/core/virtual-machines/${vm.id}/resize`, { flavor_name: BIGGER.name });
    expect(r.status, JSON.stringify(r.json)).toBe(200);
    expect(r.json).toMatchObject({ status: true, job_id: expect.any(Number) });
    const job = await cloud!.waitFor("the vm.scale job", async () => {
      const j = (await cloud!.api("GET", `/v1/core/jobs/${r.json.job_id}`)).json.job;
      return j.status === "succeeded" || j.status === "failed" ? j : undefined;
    }, 90_000);
    expect(job, JSON.stringify(job.error)).toMatchObject({ kind: "vm.scale", status: "succeeded", result: { scaled: { vcpus: 2, memory_mib: 256 } } });
    timings.push(`resize job ${Date.now() - t} ms`);
    const seen = await cloud!.waitFor("the guest at the bigger size", async () => {
      const s = guestSize();
      return s && s.get("cpus") === "2" && Number(s.get("mem_kb")) > 192 * 1024 ? s : undefined;
    }, 60_000).catch(withLog);
    timings.push(`resize to seen in the guest ${Date.now() - t} ms`);
    expect(seen.get("online")).toBe("0-1");
    expect(Number(seen.get("mem_kb"))).toBeLessThanOrEqual(256 * 1024);
    expect(countOf(serial(), "GUEST-READY")).toBe(1);
    const shown = await instance();
    expect(shown).toMatchObject({ status: "ACTIVE", flavor: { name: BIGGER.name } });
    // The domain's definition too: its next boot has the new size.
    const inactive = await hv.virsh.run(["dumpxml", "--inactive", vm.uuid]);
    expect(inactive).toMatch(/<vcpu placement='static'(?: current='2')?>2<\/vcpu>/);
    expect(inactive).toMatch(/<currentMemory unit='KiB'>262144<\/currentMemory>/);
  }, 150_000);

  it("refuses to go past the headroom or to remove a vCPU live (409, the guest unchanged)", async () => {
    const before = guestSize();
    const past = await cloud!.api("POST", `/v1/core/virtual-machines/${vm.id}/resize`, { flavor_name: "n1-cpu-medium" });
    expect(past.status, JSON.stringify(past.json)).toBe(409);
    expect(past.json.message).toMatch(/has 4 vCPUs, more than the 2 its domain was defined to grow to/);
    const down = await cloud!.api("POST", `/v1/core/virtual-machines/${vm.id}/resize`, { flavor_name: "t1-tiny" });
    expect(down.status, JSON.stringify(down.json)).toBe(409);
    expect(down.json.message).toMatch(/vCPUs cannot be removed live/);
    expect((await instance()).flavor.name).toBe(BIGGER.name);
    expect(guestSize()).toEqual(before);
  }, 60_000);

  it("gives memory back live down to what it booted with: the balloon takes it, the guest's MemTotal drops, its vCPUs stay", async () => {
    const r = await cloud!.api("POST", `/v1/core/virtual-machines/${vm.id}/resize`, { flavor_name: LESS_MEMORY.name });
    expect(r.status, JSON.stringify(r.json)).toBe(200);
    const job = await cloud!.waitFor("the vm.scale job", async () => {
      const j = (await cloud!.api("GET", `/v1/core/jobs/${r.json.job_id}`)).json.job;
      return j.status === "succeeded" || j.status === "failed" ? j : undefined;
    }, 90_000);
    expect(job, JSON.stringify(job.error)).toMatchObject({ status: "succeeded", result: { scaled: { vcpus: 2, memory_mib: 128 } } });
    const seen = await cloud!.waitFor("the guest back at about 128 MiB", async () => {
      const s = guestSize();
      return s && Number(s.get("mem_kb")) <= 128 * 1024 ? s : undefined;
    }, 60_000).catch(withLog);
    expect(seen.get("cpus")).toBe("2");
    expect(countOf(serial(), "GUEST-READY")).toBe(1);
    expect(await hv.virsh.run(["dumpxml", "--inactive", vm.uuid])).toMatch(/<currentMemory unit='KiB'>131072<\/currentMemory>/);
  }, 150_000);

  it("deletes the VM", async () => {
    expect((await cloud!.api("DELETE", `/v1/core/virtual-machines/${vm.id}`)).status).toBe(200);
    await cloud!.waitFor("gone", async () => (await cloud!.api("GET", `/v1/core/virtual-machines/${vm.id}`)).status === 404, 60_000);
    expect((await hv.listDomains()).some((d) => d.vmUuid === vm.uuid)).toBe(false);
  }, 90_000);
});
