import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import { ConflictError, HypervisorError } from "#shared/errors.js";
import { DiskSpec, MigrateVm, PowerState, VmSpec, type Command } from "#shared/protocol.js";
import { SimulatedMigrationNetwork } from "../drivers/simulator/simulated-migration-network.js";
import { SimulatorHypervisor } from "../drivers/simulator/simulator-hypervisor.js";
import { CommandExecutor } from "./command-executor.js";

function start(vmUuid: string, id = randomUUID()): Command {
  return { commandId: id, deadlineMs: 0, vmUuid, body: { $case: "startVm", value: { spec: VmSpec.fromPartial({ vmUuid, name: "v", vcpus: 1, memoryMib: 64 }) } } };
}

describe("CommandExecutor", () => {
  it("runs a command id once: repeats while running join it, repeats after get the stored result", async () => {
    const sim = new SimulatorHypervisor({ hostUuid: randomUUID(), hostname: "h", cpus: 2, memoryMib: 1024, startDelayMs: 30 });
    const ex = new CommandExecutor(sim);
    const cmd = start(randomUUID());
    const [a, b] = await Promise.all([ex.execute(cmd), ex.execute(cmd)]);
    const c = await ex.execute(cmd);
    expect([a.ok, b.ok, c.ok]).toEqual([true, true, true]);
    expect(sim.calls.start).toBe(1);
  });

  it("runs a command again after a retryable failure, but not after a final one", async () => {
    let transient = 1;
    const sim = new SimulatorHypervisor({
      hostUuid: randomUUID(), hostname: "h", cpus: 2, memoryMib: 1024,
      failStart: (s) => (s.name === "final" ? "bad disk" : undefined),
    });
    const flaky = Object.create(sim) as SimulatorHypervisor;
    flaky.startVm = async (spec) => {
      if (transient-- > 0) throw new HypervisorError("libvirtd restarting", { retryable: true });
      return sim.startVm(spec);
    };
    const ex = new CommandExecutor(flaky);
    const cmd = start(randomUUID());
    expect((await ex.execute(cmd)).error).toMatchObject({ retryable: true });
    expect((await ex.execute(cmd)).ok).toBe(true);

    const finalCmd = start(randomUUID());
    finalCmd.body = { $case: "startVm", value: { spec: VmSpec.fromPartial({ vmUuid: finalCmd.vmUuid, name: "final", vcpus: 1, memoryMib: 64 }) } };
    const first = await ex.execute(finalCmd);
    const again = await ex.execute(finalCmd);
    expect(first).toMatchObject({ ok: false, error: { code: "hypervisor_error", retryable: false } });
    expect(again).toEqual(first);
    expect(sim.calls.start).toBe(2);
  });

  it("runs the commands of one VM in order: a destroy never overtakes the start before it", async () => {
    const sim = new SimulatorHypervisor({ hostUuid: randomUUID(), hostname: "h", cpus: 2, memoryMib: 1024, startDelayMs: 50 });
    const ex = new CommandExecutor(sim);
    const vm = randomUUID();
    const started = ex.execute(start(vm));
    const destroyed = ex.execute({ commandId: randomUUID(), deadlineMs: 0, vmUuid: vm, body: { $case: "destroyVm", value: { removeOwnedDisks: true } } });
    await Promise.all([started, destroyed]);
    expect(sim.has(vm)).toBe(false);
  });

  it("refuses a command without an id or for another VM than its spec", async () => {
    const ex = new CommandExecutor(new SimulatorHypervisor({ hostUuid: randomUUID(), hostname: "h", cpus: 2, memoryMib: 1024 }));
    expect((await ex.execute({ ...start(randomUUID()), commandId: "" })).error?.code).toBe("invalid_argument");
    const mismatched = start(randomUUID());
    mismatched.vmUuid = randomUUID();
    expect((await ex.execute(mismatched)).error).toMatchObject({ code: "invalid_argument" });
  });
});

describe("CommandExecutor capability commands", () => {
  const newSim = (capabilities?: ("power" | "resize" | "disks" | "stats")[]) =>
    new SimulatorHypervisor({ hostUuid: randomUUID(), hostname: "h", cpus: 4, memoryMib: 4096, ...(capabilities ? { capabilities } : {}) });
  const cmd = (vmUuid: string, body: Command["body"]): Command => ({ commandId: randomUUID(), deadlineMs: 0, vmUuid, body });
  async function running(ex: CommandExecutor): Promise<string> {
    const vm = randomUUID();
    const c = start(vm);
    c.body = { $case: "startVm", value: { spec: VmSpec.fromPartial({ vmUuid: vm, name: "v", vcpus: 1, maxVcpus: 2, memoryMib: 256, maxMemoryMib: 512 }) } };
    expect((await ex.execute(c)).ok).toBe(true);
    return vm;
  }

  it("drives power, resize, disks and stats through the simulator, each answering the domain's new state", async () => {
    const ex = new CommandExecutor(newSim());
    const vm = await running(ex);
    const power = async (body: Command["body"]) => {
      const r = await ex.execute(cmd(vm, body));
      expect(r.error).toBeUndefined();
      return [PowerState[r.domain!.powerState], r.domain!.reason];
    };
    expect(await power({ $case: "rebootVm", value: { hard: false } })).toEqual(["POWER_STATE_RUNNING", "booted"]);
    expect(await power({ $case: "rebootVm", value: { hard: true } })).toEqual(["POWER_STATE_RUNNING", "booted"]);
    expect(await power({ $case: "suspendVm", value: {} })).toEqual(["POWER_STATE_PAUSED", "user"]);
    expect(await power({ $case: "resumeVm", value: {} })).toEqual(["POWER_STATE_RUNNING", "unpaused"]);
    expect(await power({ $case: "hibernateVm", value: {} })).toEqual(["POWER_STATE_SHUTOFF", "saved"]);
    expect(await power({ $case: "restoreVm", value: {} })).toEqual(["POWER_STATE_RUNNING", "restored"]);

    expect((await ex.execute(cmd(vm, { $case: "resizeVm", value: { vcpus: 2, memoryMib: 512 } }))).ok).toBe(true);
    const attached = await ex.execute(cmd(vm, {
      $case: "attachDisk", value: { sourcePath: "/data/x.qcow2", format: "", bus: "", targetDev: "", serial: "", createSizeGib: 1, backingPath: "" },
    }));
    expect(attached).toMatchObject({ ok: true, output: { $case: "diskAttached", value: { targetDev: "vda" } }, domain: { vmUuid: vm } });
    const stats = await ex.execute(cmd(vm, { $case: "getVmStats", value: {} }));
    expect(stats.output).toMatchObject({
      $case: "vmStats",
      value: { powerState: PowerState.POWER_STATE_RUNNING, vcpusCurrent: 2, vcpusMaximum: 2, memoryCurrentKib: 512 * 1024, blocks: [{ name: "vda", path: "/data/x.qcow2" }] },
    });
    expect((await ex.execute(cmd(vm, { $case: "detachDisk", value: { target: "vda", timeoutMs: 0 } }))).ok).toBe(true);
    const after = await ex.execute(cmd(vm, { $case: "getVmStats", value: {} }));
    expect(after.output?.$case === "vmStats" && after.output.value.blocks).toEqual([]);
  });

  it("deletes a disk file with no VM named (a deleted volume's), and refuses one without a path", async () => {
    const sim = newSim();
    const ex = new CommandExecutor(sim);
    const vm = await running(ex);
    await ex.execute(cmd(vm, { $case: "attachDisk", value: { sourcePath: "volumes/v.qcow2", format: "", bus: "", targetDev: "", serial: "", createSizeGib: 2, backingPath: "" } }));
    await ex.execute(cmd(vm, { $case: "detachDisk", value: { target: "volumes/v.qcow2", timeoutMs: 0 } }));
    expect(sim.diskFiles.has("volumes/v.qcow2")).toBe(true);
    expect(await ex.execute(cmd("", { $case: "deleteDisk", value: { sourcePath: "volumes/v.qcow2" } }))).toMatchObject({ ok: true });
    expect(sim.diskFiles.has("volumes/v.qcow2")).toBe(false);
    // Done already: still ok.
    expect((await ex.execute(cmd("", { $case: "deleteDisk", value: { sourcePath: "volumes/v.qcow2" } }))).ok).toBe(true);
    expect((await ex.execute(cmd("", { $case: "deleteDisk", value: { sourcePath: "" } }))).error).toMatchObject({ code: "invalid_argument" });
    const noDisks = new CommandExecutor(newSim(["stats"]));
    expect((await noDisks.execute(cmd("", { $case: "deleteDisk", value: { sourcePath: "x.qcow2" } }))).error).toMatchObject({ code: "unsupported" });
  });

  it("answers a driver's refusal as a final error with its code (suspend of a shut-off VM: conflict)", async () => {
    const ex = new CommandExecutor(newSim());
    const vm = await running(ex);
    await ex.execute(cmd(vm, { $case: "stopVm", value: { mode: 2, timeoutMs: 0 } }));
    expect(await ex.execute(cmd(vm, { $case: "suspendVm", value: {} }))).toMatchObject({ ok: false, error: { code: "conflict", retryable: false } });
    expect(await ex.execute(cmd(vm, { $case: "restoreVm", value: {} }))).toMatchObject({ ok: false, error: { code: "conflict" } });
  });

  it("refuses a command whose capability the driver lacks with code unsupported, touching nothing", async () => {
    const sim = newSim(["stats"]);
    const ex = new CommandExecutor(sim);
    const vm = await running(ex);
    for (const body of [
      { $case: "suspendVm", value: {} },
      { $case: "rebootVm", value: { hard: true } },
      { $case: "resizeVm", value: { vcpus: 2, memoryMib: 0 } },
      { $case: "detachDisk", value: { target: "vda", timeoutMs: 0 } },
    ] as Command["body"][]) {
      const r = await ex.execute(cmd(vm, body));
      expect(r).toMatchObject({ ok: false, error: { code: "unsupported", retryable: false } });
      expect(r.error!.message).toMatch(/needs the "(power|resize|disks)" capability, which this host's simulator driver does not have/);
    }
    const [s] = await sim.domainStats(vm);
    expect(s).toMatchObject({ vcpuCurrent: 1, state: { powerState: PowerState.POWER_STATE_RUNNING } });
  });

  it("answers the console log tail within max_bytes, refuses a larger ask, and refuses without the console capability", async () => {
    const ex = new CommandExecutor(newSim());
    const vm = await running(ex);
    const r = await ex.execute(cmd(vm, { $case: "getConsoleLog", value: { maxBytes: 0 } }));
    expect(r.ok).toBe(true);
    expect(r.output?.$case === "consoleLog" && r.output.value.text).toMatch(/login: $/);
    const small = await ex.execute(cmd(vm, { $case: "getConsoleLog", value: { maxBytes: 10 } }));
    expect(small.output).toMatchObject({ $case: "consoleLog", value: { truncated: true } });
    expect(small.output?.$case === "consoleLog" && Buffer.byteLength(small.output.value.text)).toBe(10);
    expect(await ex.execute(cmd(vm, { $case: "getConsoleLog", value: { maxBytes: 2 * 1024 * 1024 } })))
      .toMatchObject({ ok: false, error: { code: "invalid_argument" } });
    const without = new CommandExecutor(newSim(["stats"]));
    const vm2 = await running(without);
    expect(await without.execute(cmd(vm2, { $case: "getConsoleLog", value: { maxBytes: 0 } })))
      .toMatchObject({ ok: false, error: { code: "unsupported" } });
  });

  it("refuses bad arguments before the driver runs: an empty resize, a resize past a maximum (neither part applied), a disk without a path", async () => {
    const sim = newSim();
    const ex = new CommandExecutor(sim);
    const vm = await running(ex);
    expect((await ex.execute(cmd(vm, { $case: "resizeVm", value: { vcpus: 0, memoryMib: 0 } }))).error).toMatchObject({ code: "invalid_argument" });
    // vCPUs are within the maximum, memory is not: the vCPUs must not change either.
    const tooMuch = await ex.execute(cmd(vm, { $case: "resizeVm", value: { vcpus: 2, memoryMib: 4096 } }));
    expect(tooMuch.error).toMatchObject({ code: "invalid_argument" });
    expect(tooMuch.error!.message).toMatch(/at most 512 MiB/);
    expect((await sim.domainStats(vm))[0]).toMatchObject({ vcpuCurrent: 1, balloon: { currentKib: 256 * 1024 } });
    const noPath = await ex.execute(cmd(vm, { $case: "attachDisk", value: { sourcePath: "", format: "", bus: "", targetDev: "", serial: "", createSizeGib: 0, backingPath: "" } }));
    expect(noPath.error).toMatchObject({ code: "invalid_argument" });
    const badBus = await ex.execute(cmd(vm, { $case: "attachDisk", value: { sourcePath: "/d", format: "", bus: "ide", targetDev: "", serial: "", createSizeGib: 0, backingPath: "" } }));
    expect(badBus.error?.message).toMatch(/bus ide is not supported/);
    expect((await ex.execute(cmd("", { $case: "suspendVm", value: {} }))).error).toMatchObject({ code: "invalid_argument" });
  });

  it("prepares an owned disk: a copy of another VM's, refused for a running VM, a disk not owned, its own VM or without the disks capability", async () => {
    const sim = newSim();
    const ex = new CommandExecutor(sim);
    const source = await running(ex);
    const clone = randomUUID();
    const disk = (over: Partial<DiskSpec> = {}) => DiskSpec.fromPartial({ id: "root", device: "disk", format: "qcow2", owned: true, backingPath: "/images/base.qcow2", ...over });
    const prepare = (vm: string, d: DiskSpec, replace = false) => ex.execute(cmd(vm, { $case: "prepareDisk", value: { disk: d, replace } }));
    // The source runs: its disk cannot be copied consistently; the refusal is final.
    expect(await prepare(clone, disk({ copyFromVmUuid: source }))).toMatchObject({ ok: false, error: { code: "conflict", retryable: false } });
    expect(await prepare(source, disk(), true)).toMatchObject({ ok: false, error: { code: "conflict" } });
    await ex.execute(cmd(source, { $case: "stopVm", value: { mode: 2, timeoutMs: 0 } }));
    await prepare(source, disk(), true);
    const r = await prepare(clone, disk({ copyFromVmUuid: source }));
    expect(r).toMatchObject({ ok: true, domain: undefined });
    expect(sim.ownedDiskOf(clone, "root")).toEqual({ origin: "copy", from: `${source}/root`, content: sim.ownedDiskOf(source, "root")!.content });
    expect((await prepare(clone, disk({ owned: false }))).error).toMatchObject({ code: "invalid_argument" });
    expect((await prepare(clone, disk({ copyFromVmUuid: clone }))).error?.message).toMatch(/its own VM/);
    expect((await ex.execute(cmd(clone, { $case: "prepareDisk", value: { disk: undefined, replace: false } }))).error).toMatchObject({ code: "invalid_argument" });
    const without = new CommandExecutor(newSim(["stats"]));
    expect(await without.execute(cmd(clone, { $case: "prepareDisk", value: { disk: disk(), replace: false } })))
      .toMatchObject({ ok: false, error: { code: "unsupported" } });
  });

  it("changes the ISO cdrom media of a running VM: insert, replace, eject (done already when it holds what is asked); bad bodies and missing capability refused", async () => {
    const sim = newSim();
    const ex = new CommandExecutor(sim);
    const vm = await running(ex);
    const media = (sourcePath: string, eject: boolean) => ex.execute(cmd(vm, { $case: "changeMedia", value: { sourcePath, eject } }));
    expect(sim.isoMedia(vm)).toBe("");
    expect(await media("image-7.iso", false)).toMatchObject({ ok: true, domain: { vmUuid: vm, powerState: PowerState.POWER_STATE_RUNNING } });
    expect(sim.isoMedia(vm)).toBe("image-7.iso");
    expect((await media("image-8.iso", false)).ok).toBe(true);
    expect(sim.isoMedia(vm)).toBe("image-8.iso");
    expect((await media("", true)).ok).toBe(true);
    expect(sim.isoMedia(vm)).toBe("");
    expect((await media("", true)).ok).toBe(true);
    expect((await media("", false)).error).toMatchObject({ code: "invalid_argument", message: expect.stringMatching(/needs the ISO/) });
    expect((await media("x.iso", true)).error).toMatchObject({ code: "invalid_argument" });
    expect(sim.isoMedia(vm)).toBe("");
    expect((await ex.execute(cmd(randomUUID(), { $case: "changeMedia", value: { sourcePath: "x.iso", eject: false } }))).ok).toBe(false);
    const without = new CommandExecutor(newSim(["stats"]));
    expect(await without.execute(cmd(vm, { $case: "changeMedia", value: { sourcePath: "x.iso", eject: false } }))).toMatchObject({ ok: false, error: { code: "unsupported" } });
  });

  it("takes, lists, reverts and deletes snapshots (the snapshot in the answer); bad bodies and missing capability refused", async () => {
    const sim = newSim();
    const ex = new CommandExecutor(sim);
    const vm = await running(ex);
    const created = await ex.execute(cmd(vm, { $case: "createSnapshot", value: { name: "s1", description: "d", memory: true, quiesce: false, timeoutMs: 0 } }));
    expect(created).toMatchObject({ ok: true, output: { $case: "snapshots", value: { snapshots: [{ name: "s1", memory: true, state: "running" }] } } });
    const listed = await ex.execute(cmd(vm, { $case: "listSnapshots", value: {} }));
    expect(listed.output).toMatchObject({ $case: "snapshots", value: { snapshots: [{ name: "s1" }] } });
    expect(await ex.execute(cmd(vm, { $case: "revertSnapshot", value: { name: "s1", shutOff: true } })))
      .toMatchObject({ ok: true, domain: { powerState: PowerState.POWER_STATE_SHUTOFF } });
    expect((await ex.execute(cmd(vm, { $case: "revertSnapshot", value: { name: "nope", shutOff: false } }))).error).toMatchObject({ code: "not_found" });
    expect((await ex.execute(cmd(vm, { $case: "deleteSnapshot", value: { name: "s1" } }))).ok).toBe(true);
    expect((await ex.execute(cmd(vm, { $case: "createSnapshot", value: { name: "", description: "", memory: false, quiesce: false, timeoutMs: 0 } }))).error)
      .toMatchObject({ code: "invalid_argument", message: expect.stringMatching(/needs a name/) });
    const without = new CommandExecutor(newSim(["stats"]));
    expect(await without.execute(cmd(vm, { $case: "listSnapshots", value: {} }))).toMatchObject({ ok: false, error: { code: "unsupported" } });
  });

  describe("firewall", () => {
    const rule = { direction: "ingress", ethertype: "IPv4", protocol: "tcp", portRangeMin: 22, portRangeMax: 22, remoteIpPrefix: "0.0.0.0/0" };
    const sim = (capabilities?: ("firewall" | "power")[]) =>
      new SimulatorHypervisor({ hostUuid: randomUUID(), hostname: "h", cpus: 2, memoryMib: 1024, ...(capabilities ? { capabilities } : {}) });
    const apply = (vmUuid: string, firewall: object | undefined): Command =>
      ({ commandId: randomUUID(), deadlineMs: 0, vmUuid, body: { $case: "applyFirewall", value: { firewall: firewall as never } } });

    it("applies the start spec's firewall before the VM runs, replaces it on ApplyFirewall, removes it on destroy", async () => {
      const hv = sim();
      const ex = new CommandExecutor(hv);
      const vm = randomUUID();
      const cmd = start(vm);
      cmd.body = { $case: "startVm", value: { spec: VmSpec.fromPartial({ vmUuid: vm, name: "v", vcpus: 1, memoryMib: 64, firewall: { rules: [rule], privateIp: "10.0.0.5" } }) } };
      expect((await ex.execute(cmd)).ok).toBe(true);
      expect(hv.firewallOf(vm)).toEqual({ privateIp: "10.0.0.5", rules: [{ direction: "ingress", ethertype: "IPv4", protocol: "tcp", portRangeMin: 22, portRangeMax: 22, remoteIpPrefix: "0.0.0.0/0" }] });
      const r = await ex.execute(apply(vm, { rules: [{ ...rule, protocol: "udp", portRangeMin: 0, portRangeMax: 0 }], privateIp: "10.0.0.5", floatingIp: "203.0.113.9" }));
      expect(r).toMatchObject({ ok: true, domain: { powerState: PowerState.POWER_STATE_RUNNING } });
      expect(hv.firewallOf(vm)).toEqual({ privateIp: "10.0.0.5", floatingIp: "203.0.113.9", rules: [{ direction: "ingress", ethertype: "IPv4", protocol: "udp", remoteIpPrefix: "0.0.0.0/0" }] });
      await ex.execute({ commandId: randomUUID(), deadlineMs: 0, vmUuid: vm, body: { $case: "destroyVm", value: { removeOwnedDisks: true } } });
      expect(hv.firewallOf(vm)).toBeUndefined();
    });

    it("refuses a bad rule naming its field, changing nothing; an unknown VM; a driver without the capability", async () => {
      const hv = sim();
      const ex = new CommandExecutor(hv);
      const vm = randomUUID();
      await ex.execute(start(vm));
      await ex.execute(apply(vm, { rules: [rule], privateIp: "", floatingIp: "" }));
      const bad = await ex.execute(apply(vm, { rules: [rule, { ...rule, portRangeMin: 90, portRangeMax: 80 }], privateIp: "", floatingIp: "" }));
      expect(bad).toMatchObject({ ok: false, error: { code: "invalid_argument" } });
      expect(bad.error?.message).toMatch(/port_range_min \(90\) is greater than port_range_max \(80\)/);
      const unknown = await ex.execute(apply(vm, { rules: [{ ...rule, protocol: "smoke-signals" }], privateIp: "", floatingIp: "" }));
      expect(unknown.error?.message).toMatch(/unknown protocol/);
      expect(hv.firewallOf(vm)?.rules).toHaveLength(1);
      expect((await ex.execute(apply(randomUUID(), { rules: [], privateIp: "", floatingIp: "" }))).error?.code).toBe("not_found");

      const without = sim(["power"]);
      const ex2 = new CommandExecutor(without);
      const vm2 = randomUUID();
      const cmd = start(vm2);
      cmd.body = { $case: "startVm", value: { spec: VmSpec.fromPartial({ vmUuid: vm2, name: "v", vcpus: 1, memoryMib: 64, firewall: { rules: [] } }) } };
      // Not started unprotected: the start is refused before anything runs.
      expect((await ex2.execute(cmd)).error).toMatchObject({ code: "unsupported", retryable: false });
      expect(without.has(vm2)).toBe(false);
    });
  });
});

describe("CommandExecutor migration commands", () => {
  const pair = () => {
    const network = new SimulatedMigrationNetwork();
    const host = (name: string) => new SimulatorHypervisor({ hostUuid: randomUUID(), hostname: name, cpus: 4, memoryMib: 4096, migration: { network, uri: `simulator://${name}` } });
    return { a: host("a"), b: host("b") };
  };
  const migrate = (vmUuid: string, over: Partial<MigrateVm> = {}): Command => ({
    commandId: randomUUID(), deadlineMs: 0, vmUuid,
    body: { $case: "migrateVm", value: MigrateVm.fromPartial({ destinationUri: "simulator://b", live: true, ...over }) },
  });
  const cancel = (vmUuid: string): Command => ({ commandId: randomUUID(), deadlineMs: 0, vmUuid, body: { $case: "cancelMigration", value: {} } });

  it("MigrateVm moves the VM and answers the measurements (no domain: it is not here any more); progress goes to the hook", async () => {
    const { a, b } = pair();
    const progress: string[] = [];
    const ex = new CommandExecutor(a, { onMigrationProgress: (vm, id, p) => progress.push(`${vm}/${id}/${p.dataTotalBytes}`) });
    const vm = randomUUID();
    expect((await ex.execute(start(vm))).ok).toBe(true);
    const c = migrate(vm);
    const r = await ex.execute(c);
    expect(r.error).toBeUndefined();
    expect(r.domain).toBeUndefined();
    expect(r.output).toMatchObject({ $case: "migration", value: { hasDowntime: true, dataBytes: 64 * 2 ** 20 } });
    expect(progress[0]).toBe(`${vm}/${c.commandId}/${64 * 2 ** 20}`);
    expect(a.has(vm)).toBe(false);
    expect(b.has(vm)).toBe(true);
  });

  it("PrepareMigrationIn on the destination makes the VM's bridges and applies its firewall there first", async () => {
    const { a, b } = pair();
    const vm = randomUUID();
    const spec = VmSpec.fromPartial({
      vmUuid: vm, name: "v", vcpus: 1, memoryMib: 64, nics: [{ mac: "52:54:00:00:00:02", bridge: "orb-9", model: "virtio" }],
      firewall: { rules: [{ direction: "ingress", protocol: "tcp", portRangeMin: 22, portRangeMax: 22, remoteIpPrefix: "0.0.0.0/0", ethertype: "IPv4" }] },
    });
    const exA = new CommandExecutor(a);
    const exB = new CommandExecutor(b);
    expect((await exA.execute({ commandId: randomUUID(), deadlineMs: 0, vmUuid: vm, body: { $case: "startVm", value: { spec } } })).ok).toBe(true);
    expect((await exA.execute(migrate(vm))).error).toMatchObject({ code: "hypervisor_error", message: expect.stringMatching(/no bridge orb-9/) });
    const prep = await exB.execute({ commandId: randomUUID(), deadlineMs: 0, vmUuid: vm, body: { $case: "prepareMigrationIn", value: { spec } } });
    expect(prep.error).toBeUndefined();
    expect(b.bridgeNames()).toEqual(["orb-9"]);
    expect(b.firewallOf(vm)?.rules).toHaveLength(1);
    expect((await exA.execute(migrate(vm))).ok).toBe(true);
    expect(a.firewallOf(vm)).toBeUndefined();
    const wrong = await exB.execute({ commandId: randomUUID(), deadlineMs: 0, vmUuid: randomUUID(), body: { $case: "prepareMigrationIn", value: { spec } } });
    expect(wrong.error).toMatchObject({ code: "invalid_argument" });
  });

  it("CancelMigration is not queued behind the MigrateVm it stops; the VM stays; no migration: conflict", async () => {
    const { a, b } = pair();
    a.migrationDurationMs = 5000;
    const ex = new CommandExecutor(a);
    const vm = randomUUID();
    await ex.execute(start(vm));
    const running = ex.execute(migrate(vm));
    await new Promise((r) => setTimeout(r, 50));
    expect((await ex.execute(cancel(vm))).ok).toBe(true);
    expect((await running).error).toMatchObject({ code: "conflict", retryable: false });
    expect(a.has(vm)).toBe(true);
    expect(b.has(vm)).toBe(false);
    expect((await ex.execute(cancel(vm))).error).toMatchObject({ code: "conflict" });
  });

  it("refuses bad arguments, a refused VM, and a driver without the capability", async () => {
    const { a } = pair();
    const ex = new CommandExecutor(a);
    const vm = randomUUID();
    await ex.execute(start(vm));
    expect((await ex.execute(migrate(vm, { destinationUri: "" }))).error).toMatchObject({ code: "invalid_argument" });
    expect((await ex.execute(migrate(vm, { copyStorage: "some" }))).error).toMatchObject({ code: "invalid_argument" });
    expect((await ex.execute(migrate(vm, { destinationUri: "simulator://a" }))).error).toMatchObject({ code: "conflict", message: expect.stringMatching(/host it runs on/) });
    const lone = new SimulatorHypervisor({ hostUuid: randomUUID(), hostname: "x", cpus: 1, memoryMib: 1024 });
    const ex2 = new CommandExecutor(lone);
    await ex2.execute(start(vm));
    expect((await ex2.execute(migrate(vm))).error).toMatchObject({ code: "unsupported", retryable: false });
    expect((await ex2.execute(cancel(vm))).error).toMatchObject({ code: "unsupported" });
  });
});

describe("CommandExecutor: HA", () => {
  const probe = (hostUuid: string, address: string, id = randomUUID()): Command =>
    ({ commandId: id, deadlineMs: 0, vmUuid: "", body: { $case: "probeHost", value: { hostUuid, address, timeoutMs: 1000 } } });

  it("answers ProbeHost (no vm_uuid) with the prober's evidence, not queued behind a slow host-level command", async () => {
    const sim = new SimulatorHypervisor({ hostUuid: randomUUID(), hostname: "h", cpus: 2, memoryMib: 1024 });
    const slow = Object.create(sim) as SimulatorHypervisor;
    Object.defineProperty(slow, "disks", { value: { ...sim.disks!, deleteDisk: () => new Promise((r) => setTimeout(r, 3000)) } });
    const ex = new CommandExecutor(slow, { probeHost: async (p) => ({ reachable: p.address === "127.0.0.1", storageHeartbeatSeen: true, storageHeartbeatAgeMs: 1234, detail: `probed ${p.hostUuid}` }) });
    void ex.execute({ commandId: randomUUID(), deadlineMs: 0, vmUuid: "", body: { $case: "deleteDisk", value: { sourcePath: "/x.qcow2" } } });
    const host = randomUUID();
    const began = Date.now();
    const r = await ex.execute(probe(host, "127.0.0.1"));
    expect(Date.now() - began).toBeLessThan(1000);
    expect(r).toMatchObject({ ok: true, domain: undefined, output: { $case: "probe", value: { reachable: true, storageHeartbeatSeen: true, storageHeartbeatAgeMs: 1234, detail: `probed ${host}` } } });
  });

  it("refuses a ProbeHost without a host or address, and on an agent with no prober", async () => {
    const sim = new SimulatorHypervisor({ hostUuid: randomUUID(), hostname: "h", cpus: 2, memoryMib: 1024 });
    const ex = new CommandExecutor(sim, { probeHost: async () => ({ reachable: true, storageHeartbeatSeen: false, storageHeartbeatAgeMs: -1, detail: "" }) });
    expect((await ex.execute(probe("", "127.0.0.1"))).error).toMatchObject({ code: "invalid_argument", message: expect.stringMatching(/uuid/) });
    expect((await ex.execute(probe(randomUUID(), ""))).error).toMatchObject({ code: "invalid_argument", message: expect.stringMatching(/address/) });
    expect((await new CommandExecutor(sim).execute(probe(randomUUID(), "127.0.0.1"))).error).toMatchObject({ code: "unsupported" });
  });

  it("runs no VM while refuseRun says the host is fenced: a queued start is refused when its turn comes", async () => {
    const sim = new SimulatorHypervisor({ hostUuid: randomUUID(), hostname: "h", cpus: 2, memoryMib: 1024, startDelayMs: 50 });
    let fenced = false;
    const ex = new CommandExecutor(sim, { refuseRun: (what) => { if (fenced) throw new ConflictError(`${what} refused: fenced`, "self_fenced"); } });
    const vm = randomUUID();
    const first = ex.execute(start(vm));
    const stop = ex.execute({ commandId: randomUUID(), deadlineMs: 0, vmUuid: vm, body: { $case: "stopVm", value: { mode: 2, timeoutMs: 0 } } });
    const queued = ex.execute(start(vm));
    // The first start is running (its 50 ms boot) when the host fences itself.
    await new Promise((r) => setTimeout(r, 10));
    fenced = true;
    expect((await first).ok).toBe(true);
    expect((await stop).ok).toBe(true);
    expect(await queued).toMatchObject({ ok: false, error: { code: "conflict", message: "startVm refused: fenced" } });
    expect((await sim.listDomains())[0]!.powerState).toBe(PowerState.POWER_STATE_SHUTOFF);
    fenced = false;
    expect((await ex.execute(start(vm))).ok).toBe(true);
  });
});
