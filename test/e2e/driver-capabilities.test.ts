// Driver capabilities end to end: the manager's typed dispatcher methods send each capability
// command over gRPC to a simulated agent, whose executor runs it on the simulator driver; a host
// whose driver lacks a capability refuses the command with code "unsupported".
import { eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { OrbitError } from "#shared/errors.js";
import { DiskSpec, PowerState, StopMode } from "#shared/protocol.js";
import { CommandDispatcher, type VmCommandTarget } from "../../manager/src/agents/command-dispatcher.js";
import { commands, hosts, vms } from "../../manager/src/db/schema.js";
import { jobsIdle, startTestCloud, type TestCloud } from "./harness.js";

const HOSTS = [
  { hostname: "cap-full", uuid: "ca900000-0000-4000-8000-000000000001", cpus: 16, memoryMib: 32768 },
  // Too small for any VM, so placement never picks it; its driver can only report stats.
  { hostname: "cap-stats-only", uuid: "ca900000-0000-4000-8000-000000000002", cpus: 1, memoryMib: 64, capabilities: ["stats" as const] },
];

let cloud: TestCloud;
let dispatcher: CommandDispatcher;
let hostIds: Record<string, number>;
beforeAll(async () => {
  cloud = await startTestCloud({ hosts: HOSTS });
  const db = cloud.manager.database.db;
  // The manager's own sessions and database; agents are connected, so no liveness wait applies.
  dispatcher = new CommandDispatcher(db, cloud.manager.sessions, { aliveUntil: () => Date.now() + 10_000 });
  hostIds = Object.fromEntries((await db.select({ id: hosts.id, name: hosts.name }).from(hosts)).map((h) => [h.name, h.id]));
}, 120_000);
afterAll(async () => { await cloud?.stop(); });

const errorOf = (p: Promise<unknown>): Promise<OrbitError> => p.then(() => { throw new Error("expected a refusal"); }, (e: unknown) => e as OrbitError);

describe("driver capabilities through manager → gRPC → agent → simulator", () => {
  let target: VmCommandTarget;
  let vmUuid: string;

  it("runs a VM to act on", async () => {
    const created = await cloud.api("POST", "/v1/core/virtual-machines", { name: "cap-1", flavor_name: "n1-cpu-small", image_name: "Debian 12" });
    expect(created.status).toBe(200);
    const inst = created.json.instances[0];
    expect(inst.host).toBe("cap-full");
    await cloud.waitFor("VM running", async () => (await cloud.api("GET", `/v1/core/virtual-machines/${inst.id}`)).json.instance?.status === "ACTIVE");
    await jobsIdle(cloud);
    const [vm] = await cloud.manager.database.db.select({ id: vms.id, uuid: vms.uuid }).from(vms).where(eq(vms.id, inst.id));
    vmUuid = vm!.uuid;
    target = { hostId: hostIds["cap-full"]!, vmUuid, vmId: vm!.id, timeoutMs: 10_000 };
  });

  it("resize: within the VM's maximums; past them refused, changing nothing", async () => {
    expect(await dispatcher.resizeVm(target, { vcpus: 1, memoryMib: 2048 })).toMatchObject({ vmUuid });
    expect(await dispatcher.vmStats(target)).toMatchObject({ vcpusCurrent: 1, vcpusMaximum: 2, memoryCurrentKib: 2048 * 1024, memoryMaximumKib: 4096 * 1024 });
    const refused = await errorOf(dispatcher.resizeVm(target, { vcpus: 2, memoryMib: 8192 }));
    expect(refused).toMatchObject({ code: "invalid_argument" });
    expect(refused.message).toMatch(/at most 4096 MiB/);
    expect(await dispatcher.vmStats(target)).toMatchObject({ vcpusCurrent: 1, memoryCurrentKib: 2048 * 1024 });
    await dispatcher.resizeVm(target, { vcpus: 2 });
    expect((await dispatcher.vmStats(target)).vcpusCurrent).toBe(2);
  });

  it("disks and stats: attach answers the device, stats of the running VM see it, detach removes it", async () => {
    const { targetDev, domain } = await dispatcher.attachDisk(target, { sourcePath: "/data/cap-extra.qcow2", createSizeGib: 2 });
    // The next free virtio device after the VM's own disks.
    const own = (await cloud.fleet.hypervisors[0]!.domainStats(vmUuid))[0]!.blocks.filter((b) => b.name !== targetDev).length;
    expect(targetDev).toBe(`vd${String.fromCharCode(97 + own)}`);
    expect(domain).toMatchObject({ vmUuid, powerState: PowerState.POWER_STATE_RUNNING });
    const s = await dispatcher.vmStats(target);
    expect(s).toMatchObject({ powerState: PowerState.POWER_STATE_RUNNING, vcpusCurrent: 2, memoryMaximumKib: 4096 * 1024 });
    expect(s.cpuTimeNs).toBeGreaterThanOrEqual(0);
    expect(s.blocks.map((b) => [b.name, b.path, b.capacityBytes])).toContainEqual([targetDev, "/data/cap-extra.qcow2", 2 * 1024 ** 3]);
    await expect(dispatcher.attachDisk(target, { sourcePath: "/data/cap-extra.qcow2" })).rejects.toMatchObject({ code: "conflict" });
    await dispatcher.detachDisk(target, targetDev);
    expect((await dispatcher.vmStats(target)).blocks.map((b) => b.name)).not.toContain(targetDev);
    await expect(dispatcher.detachDisk(target, targetDev)).rejects.toMatchObject({ code: "not_found" });
  });

  it("cdrom media: inserted into and ejected from the running VM's ISO slot", async () => {
    const sim = cloud.fleet.hypervisors[0]!;
    expect(await dispatcher.changeMedia(target, { sourcePath: "image-7.iso" })).toMatchObject({ vmUuid, powerState: PowerState.POWER_STATE_RUNNING });
    expect(sim.isoMedia(vmUuid)).toBe("image-7.iso");
    await dispatcher.changeMedia(target, { eject: true });
    expect(sim.isoMedia(vmUuid)).toBe("");
  });

  it("power: reboot, reset, suspend, resume, hibernate, restore, stop with a mode", async () => {
    const sim = cloud.fleet.hypervisors[0]!;
    const state = async () => (await sim.listDomains()).find((d) => d.vmUuid === vmUuid);
    expect(await dispatcher.rebootVm(target)).toMatchObject({ vmUuid, powerState: PowerState.POWER_STATE_RUNNING });
    expect(await dispatcher.rebootVm(target, { hard: true })).toMatchObject({ powerState: PowerState.POWER_STATE_RUNNING });
    expect(await dispatcher.suspendVm(target)).toMatchObject({ powerState: PowerState.POWER_STATE_PAUSED, reason: "user" });
    expect(await state()).toMatchObject({ powerState: PowerState.POWER_STATE_PAUSED });
    expect(await dispatcher.resumeVm(target)).toMatchObject({ powerState: PowerState.POWER_STATE_RUNNING, reason: "unpaused" });
    expect(await dispatcher.hibernateVm(target)).toMatchObject({ powerState: PowerState.POWER_STATE_SHUTOFF, reason: "saved" });
    expect(await state()).toMatchObject({ powerState: PowerState.POWER_STATE_SHUTOFF, reason: "saved" });
    // A rule of the host, carried back as a typed error: a hibernated VM cannot be suspended.
    const conflict = await errorOf(dispatcher.suspendVm(target));
    expect(conflict).toMatchObject({ code: "conflict", retryable: false });
    expect(await dispatcher.restoreVm(target)).toMatchObject({ powerState: PowerState.POWER_STATE_RUNNING, reason: "restored" });
    expect(await dispatcher.stopVm(target, { mode: StopMode.STOP_MODE_FORCE })).toMatchObject({ powerState: PowerState.POWER_STATE_SHUTOFF, reason: "destroyed" });
    await expect(dispatcher.restoreVm(target)).rejects.toMatchObject({ code: "conflict" });
  });

  it("disks: prepare an owned disk of the stopped VM (replace makes it afresh) and a full copy of it for another VM", async () => {
    const sim = cloud.fleet.hypervisors[0]!;
    const root = DiskSpec.fromPartial({ id: "root", device: "disk", format: "qcow2", owned: true, backingPath: "/images/cap.qcow2" });
    await dispatcher.prepareDisk(target, root, { replace: true });
    const fresh = sim.ownedDiskOf(vmUuid, "root")!;
    expect(fresh).toMatchObject({ origin: "overlay", from: "/images/cap.qcow2" });
    const other = "ca900000-0000-4000-8000-0000000000c1";
    const copyTarget: VmCommandTarget = { hostId: target.hostId, vmUuid: other, timeoutMs: 10_000 };
    expect(await dispatcher.prepareDisk(copyTarget, { ...root, copyFromVmUuid: vmUuid }, { replace: false })).toBeUndefined();
    expect(sim.ownedDiskOf(other, "root")).toEqual({ origin: "copy", from: `${vmUuid}/root`, content: fresh.content });
  });

  it("firewall: ApplyFirewall replaces what the host holds for the VM; a bad rule is refused, changing nothing", async () => {
    const sim = cloud.fleet.hypervisors[0]!;
    const rule = { direction: "ingress", ethertype: "IPv4", protocol: "tcp", portRangeMin: 8000, portRangeMax: 8100, remoteIpPrefix: "198.51.100.0/24" };
    await dispatcher.applyFirewall(target, { rules: [rule], privateIp: "10.1.0.9", floatingIp: "203.0.113.19" });
    expect(sim.firewallOf(vmUuid)).toEqual({
      privateIp: "10.1.0.9", floatingIp: "203.0.113.19",
      rules: [{ direction: "ingress", ethertype: "IPv4", protocol: "tcp", portRangeMin: 8000, portRangeMax: 8100, remoteIpPrefix: "198.51.100.0/24" }],
    });
    const refused = await errorOf(dispatcher.applyFirewall(target, { rules: [{ ...rule, protocol: "smoke" }], privateIp: "", floatingIp: "" }));
    expect(refused).toMatchObject({ code: "invalid_argument", retryable: false });
    expect(refused.message).toMatch(/unknown protocol "smoke"/);
    expect(sim.firewallOf(vmUuid)?.rules).toHaveLength(1);
  });

  it("records every command it sent, with its kind", async () => {
    const rows = await cloud.manager.database.db.select({ kind: commands.kind, status: commands.status }).from(commands)
      .where(eq(commands.hostId, target.hostId));
    const kinds = new Set(rows.map((r) => r.kind));
    for (const k of ["rebootVm", "suspendVm", "resumeVm", "hibernateVm", "restoreVm", "stopVm", "resizeVm", "attachDisk", "detachDisk", "getVmStats", "prepareDisk"]) {
      expect(kinds).toContain(k);
    }
    expect(rows.filter((r) => r.status === "sent" || r.status === "pending")).toEqual([]);
  });

  it("a host whose driver lacks a capability refuses its commands with code unsupported, and says which it has", async () => {
    const limited = cloud.fleet.agents[1]!;
    expect((await limited.facts()).capabilities).toEqual(["stats"]);
    expect((await cloud.fleet.agents[0]!.facts()).capabilities).toEqual(["power", "resize", "disks", "stats", "console", "firewall", "snapshots", "migration"]);
    const t: VmCommandTarget = { hostId: hostIds["cap-stats-only"]!, vmUuid, timeoutMs: 10_000 };
    for (const send of [
      () => dispatcher.suspendVm(t), () => dispatcher.hibernateVm(t), () => dispatcher.rebootVm(t, { hard: true }),
      () => dispatcher.resizeVm(t, { vcpus: 1 }), () => dispatcher.attachDisk(t, { sourcePath: "/data/x.qcow2" }),
      () => dispatcher.prepareDisk(t, DiskSpec.fromPartial({ id: "root", device: "disk", owned: true, backingPath: "/i.qcow2" }), { replace: true }),
      () => dispatcher.applyFirewall(t, { rules: [], privateIp: "", floatingIp: "" }),
      () => dispatcher.changeMedia(t, { sourcePath: "image-7.iso" }),
    ]) {
      const e = await errorOf(send());
      expect(e).toMatchObject({ code: "unsupported", retryable: false });
      expect(e.message).toMatch(/needs the "(power|resize|disks|firewall)" capability, which this host's simulator driver does not have/);
    }
    const rows = await cloud.manager.database.db.select({ status: commands.status, error: commands.error }).from(commands)
      .where(eq(commands.hostId, t.hostId));
    expect(rows).toHaveLength(8);
    expect(rows.every((r) => r.status === "failed" && r.error?.code === "unsupported")).toBe(true);
    // What it has still works: stats of a VM it does not have is the driver's not-found, not unsupported.
    expect(await errorOf(dispatcher.vmStats(t))).toMatchObject({ code: "hypervisor_error" });
  });
});
