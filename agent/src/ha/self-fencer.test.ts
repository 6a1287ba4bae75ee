import { randomUUID } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import pino from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { PowerState, VmSpec, type DomainStatus } from "#shared/protocol.js";
import { SimulatorHypervisor } from "../drivers/simulator/simulator-hypervisor.js";
import type { StopOptions } from "../drivers/hypervisor.js";
import { SelfFencer } from "./self-fencer.js";
import { nodeHeartbeatFs, StorageHeartbeatWriter, type HeartbeatFs } from "./storage-heartbeat.js";

const HOST = "5d7d0f4e-8a0b-4c1e-9a3f-0e6f2b1c4d55";
const dirs: string[] = [];
afterEach(() => { for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true }); });

/** A host with two running Orbit VMs and one domain Orbit does not manage, a fake clock and a storage that can fail or hang. */
async function rig(opts: { dir?: boolean; settingsFile?: string; contactFile?: string; stuck?: (vm: string) => boolean; startMs?: number } = {}) {
  let now = opts.startMs ?? 1_000_000;
  const clock = () => now;
  const sim = new SimulatorHypervisor({ hostUuid: HOST, hostname: "h", cpus: 8, memoryMib: 8192 });
  const vms = [randomUUID(), randomUUID()];
  for (const vm of vms) await sim.startVm(VmSpec.fromPartial({ vmUuid: vm, name: vm.slice(0, 8), vcpus: 1, memoryMib: 64 }));
  const foreign: DomainStatus = { vmUuid: randomUUID(), name: "not-orbit", powerState: PowerState.POWER_STATE_RUNNING, reason: "booted", managed: false };
  const stopped: { vm: string; opts: StopOptions }[] = [];
  const hv = {
    listDomains: async () => [...await sim.listDomains(), foreign],
    stopVm: async (vm: string, o: StopOptions) => {
      stopped.push({ vm, opts: o });
      return opts.stuck?.(vm) ? new Promise<never>(() => undefined) : sim.stopVm(vm, o);
    },
  };
  let storage: "ok" | "fail" | "hang" = "ok";
  const writes: number[] = [];
  const fs: HeartbeatFs = {
    ...nodeHeartbeatFs,
    writeSynced: (_f, data) => {
      if (storage === "fail") return Promise.reject(new Error("EROFS: read-only file system"));
      if (storage === "hang") return new Promise(() => undefined);
      writes.push((JSON.parse(data) as { written_at_ms: number }).written_at_ms);
      return Promise.resolve();
    },
    rename: async () => undefined,
  };
  const lines: Record<string, unknown>[] = [];
  const log = pino({ level: "info" }, { write: (l: string) => { lines.push(JSON.parse(l) as Record<string, unknown>); } });
  const writer = opts.dir === false ? undefined : new StorageHeartbeatWriter({ dir: "/shared/ha", hostUuid: () => HOST, timeoutMs: 1000, fs, now: clock });
  const fencer = new SelfFencer({ hypervisor: hv, writer, log, now: clock, settingsFile: opts.settingsFile, contactFile: opts.contactFile });
  const running = async () => (await sim.listDomains()).filter((d) => d.powerState === PowerState.POWER_STATE_RUNNING).map((d) => d.vmUuid).sort();
  return {
    sim, vms, fencer, stopped, writes, lines, running, writer,
    advance: (ms: number) => { now += ms; },
    storage: (s: typeof storage) => { storage = s; },
    /** Ticks every second for `ms` of fake time. */
    async run(ms: number, each?: () => void) {
      for (let t = 0; t < ms; t += 1000) { now += 1000; each?.(); await fencer.tick(); }
    },
  };
}

describe("SelfFencer", () => {
  it("does nothing until the manager has told it self_fence_after_ms, even cut off from both", async () => {
    const r = await rig();
    r.storage("fail");
    await r.run(120_000);
    expect(r.stopped).toEqual([]);
    expect(await r.running()).toEqual([...r.vms].sort());
  });

  it("powers off every Orbit VM (hard, kept defined) once neither the manager nor the storage answered for the window", async () => {
    const r = await rig();
    r.fencer.applySettings({ selfFenceAfterMs: 10_000, storageHeartbeatIntervalMs: 1000 });
    r.fencer.managerContact();
    r.storage("fail");
    await r.run(9_000);
    expect(r.stopped).toEqual([]);
    expect(r.fencer.fenced).toBe(false);
    await r.run(2_000);
    expect(r.fencer.fenced).toBe(true);
    expect(r.stopped.map((s) => s.vm).sort()).toEqual([...r.vms].sort());
    expect(r.stopped.every((s) => s.opts.mode === 2 /* STOP_MODE_FORCE */)).toBe(true);
    expect(await r.running()).toEqual([]);
    // Still defined (disks kept): the simulator still lists them, shut off.
    expect((await r.sim.listDomains()).map((d) => d.powerState)).toEqual([PowerState.POWER_STATE_SHUTOFF, PowerState.POWER_STATE_SHUTOFF]);
    expect(r.lines.some((l) => l.level === 60 && String(l.msg).startsWith("SELF-FENCING"))).toBe(true);
  });

  it("counts a hanging heartbeat write as a failure", async () => {
    const r = await rig();
    r.fencer.applySettings({ selfFenceAfterMs: 5_000, storageHeartbeatIntervalMs: 1000 });
    r.storage("hang");
    // Real time passes for the write timeout (1 s) only on the first tick; later ones find it still hung.
    await r.run(6_000);
    expect(r.fencer.fenced).toBe(true);
    expect(await r.running()).toEqual([]);
  }, 10_000);

  it("does not fence while the storage heartbeat is written, however long the manager is away", async () => {
    const r = await rig();
    r.fencer.applySettings({ selfFenceAfterMs: 5_000, storageHeartbeatIntervalMs: 1000 });
    await r.run(60_000);
    expect(r.fencer.fenced).toBe(false);
    expect(r.writes.length).toBe(60);
    expect(await r.running()).toEqual([...r.vms].sort());
  });

  it("does not fence while the manager is reached, however long the storage fails", async () => {
    const r = await rig();
    r.fencer.applySettings({ selfFenceAfterMs: 5_000, storageHeartbeatIntervalMs: 1000 });
    r.storage("fail");
    await r.run(60_000, () => r.fencer.managerContact());
    expect(r.fencer.fenced).toBe(false);
    expect(r.lines.filter((l) => l.msg === "storage heartbeat write failed")).toHaveLength(1);
  });

  it("never fences without a heartbeat dir, and says so", async () => {
    const r = await rig({ dir: false });
    r.fencer.applySettings({ selfFenceAfterMs: 5_000, storageHeartbeatIntervalMs: 1000 });
    await r.run(60_000);
    expect(r.fencer.fenced).toBe(false);
    expect(r.lines.some((l) => String(l.msg).includes("never fences itself"))).toBe(true);
    expect(r.lines.some((l) => String(l.msg).includes("will never fence itself"))).toBe(true);
  });

  it("keeps the VMs down and refuses starts until the manager is reached; the storage coming back is not enough", async () => {
    const r = await rig();
    r.fencer.applySettings({ selfFenceAfterMs: 5_000, storageHeartbeatIntervalMs: 1000 });
    r.storage("fail");
    await r.run(6_000);
    expect(r.fencer.fenced).toBe(true);
    expect(() => r.fencer.refuseWhileFenced("startVm", r.vms[0]!)).toThrow(/fenced itself/);
    // A start that was running when the fence came finishes afterwards: the next tick powers it off again.
    await r.sim.startVm(VmSpec.fromPartial({ vmUuid: r.vms[0]!, name: "late", vcpus: 1, memoryMib: 64 }));
    r.storage("ok");
    await r.run(1_000);
    expect(await r.running()).toEqual([]);
    expect(r.fencer.fenced).toBe(true);
    r.fencer.managerContact();
    expect(r.fencer.fenced).toBe(false);
    expect(() => r.fencer.refuseWhileFenced("startVm", r.vms[0]!)).not.toThrow();
    await r.run(30_000);
    expect(r.fencer.fenced).toBe(false);
  });

  it("keeps the manager's settings, so an agent restarted while cut off still fences", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "orbit-ha-settings-"));
    dirs.push(dir);
    const settingsFile = path.join(dir, "ha-settings.json");
    const first = await rig({ settingsFile });
    first.fencer.applySettings({ selfFenceAfterMs: 5_000, storageHeartbeatIntervalMs: 1500 });
    expect(JSON.parse(readFileSync(settingsFile, "utf8"))).toEqual({ selfFenceAfterMs: 5_000, storageHeartbeatIntervalMs: 1500 });
    const again = await rig({ settingsFile });
    expect(again.fencer.intervalMs).toBe(1500);
    again.storage("fail");
    await again.run(6_000);
    expect(again.fencer.fenced).toBe(true);
  });

  it("an agent restarted on a host still cut off counts from its last contact, not its start; with storage it never fences at start", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "orbit-ha-contact-"));
    dirs.push(dir);
    const files = { settingsFile: path.join(dir, "ha-settings.json"), contactFile: path.join(dir, "ha-contact.json") };
    const first = await rig(files);
    first.fencer.applySettings({ selfFenceAfterMs: 5_000, storageHeartbeatIntervalMs: 1000 });
    first.fencer.managerContact();
    await first.run(2_000);
    const kept = JSON.parse(readFileSync(files.contactFile, "utf8")) as { managerContactMs: number; heartbeatOkMs: number };
    expect(kept.heartbeatOkMs).toBeGreaterThan(1_000_000);
    // The agent died at ~1,002,000; systemd brings it back 4 s later, network and storage still cut.
    const cut = await rig({ ...files, startMs: 1_006_000 });
    cut.storage("fail");
    await cut.run(2_000); // past 5 s since the last contact: fenced at once, not 5 s after the restart
    expect(cut.fencer.fenced).toBe(true);
    expect(cut.stopped.map((x) => x.vm).sort()).toEqual([...cut.vms].sort());
    // Restarted much later on a healthy host (storage writable, manager not reached yet): no fence.
    const healthy = await rig({ ...files, startMs: 1_600_000 });
    await healthy.fencer.tick();
    await healthy.run(3_000);
    expect(healthy.fencer.fenced).toBe(false);
    expect(healthy.stopped).toEqual([]);
  });

  it("applies a new interval to the write timeout", async () => {
    const r = await rig();
    r.fencer.applySettings({ selfFenceAfterMs: 5_000, storageHeartbeatIntervalMs: 3000 });
    expect(r.writer!.timeoutMs).toBe(3000);
    r.fencer.applySettings({ selfFenceAfterMs: 5_000, storageHeartbeatIntervalMs: 0 });
    expect(r.fencer.intervalMs).toBe(2000);
    expect(r.writer!.timeoutMs).toBe(2000);
  });

  it("does not let a power-off stuck in the driver hold up the other VMs, the heartbeat or the next ticks", async () => {
    let stuckVm = "";
    const r = await rig({ stuck: (vm) => vm === stuckVm });
    stuckVm = r.vms[0]!;
    r.fencer.applySettings({ selfFenceAfterMs: 5_000, storageHeartbeatIntervalMs: 1000 });
    r.storage("fail");
    await r.run(6_000);
    expect(r.fencer.fenced).toBe(true);
    expect(await r.running()).toEqual([stuckVm]);
    r.storage("ok");
    const writes = r.writes.length;
    await r.run(2_000);
    // Not issued again while the first one hangs; the heartbeat is written meanwhile.
    expect(r.stopped.filter((s) => s.vm === stuckVm)).toHaveLength(1);
    expect(r.writes.length).toBe(writes + 2);
    expect(r.lines.some((l) => String(l.msg).includes("not powered off yet"))).toBe(true);
  }, 15_000);

  it("writes nothing, and logs no failure, before the host's UUID is known", async () => {
    const r = await rig();
    const w = new StorageHeartbeatWriter({ dir: "/shared/ha", hostUuid: () => "", timeoutMs: 1000 });
    const lines: string[] = [];
    const f = new SelfFencer({ hypervisor: { listDomains: async () => [], stopVm: r.sim.stopVm.bind(r.sim) }, writer: w, log: pino({ level: "info" }, { write: (l: string) => { lines.push(l); } }) });
    await f.tick();
    expect(lines.join("")).not.toMatch(/write failed/);
  });
});
