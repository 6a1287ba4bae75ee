// The self-fencer on the libvirt driver, against libvirt's test driver (test:///default: every
// virsh call sees a fresh host with one running domain, "test", that Orbit did not create). A
// fencing host powers off only what Orbit manages: the test host's own domain stays up.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pino from "pino";
import { afterAll, describe, expect, it } from "vitest";
import { PowerState } from "#shared/protocol.js";
import { LibvirtHypervisor } from "../drivers/libvirt/libvirt-hypervisor.js";
import { toolMissing } from "../drivers/libvirt/tool-availability.js";
import { SelfFencer } from "./self-fencer.js";
import { nodeHeartbeatFs, StorageHeartbeatWriter } from "./storage-heartbeat.js";

const skip = toolMissing("virsh") && !process.env.CI;

describe.skipIf(skip)("SelfFencer on the libvirt driver (test:///default)", () => {
  const dir = mkdtempSync(join(tmpdir(), "orbit-fence-libvirt-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("fences without touching a domain Orbit does not manage", async () => {
    const hv = new LibvirtHypervisor({ uri: "test:///default", domainType: "qemu", instancesDir: dir, hostname: "node-1" });
    const stopped: string[] = [];
    const spy = Object.create(hv) as LibvirtHypervisor;
    spy.stopVm = async (vm, o) => { stopped.push(vm); return hv.stopVm(vm, o); };
    let now = 0;
    const failing = { ...nodeHeartbeatFs, writeSynced: () => Promise.reject(new Error("EIO")) };
    const writer = new StorageHeartbeatWriter({ dir, hostUuid: () => "5d7d0f4e-8a0b-4c1e-9a3f-0e6f2b1c4d55", timeoutMs: 1000, fs: failing, now: () => now });
    const lines: string[] = [];
    const fencer = new SelfFencer({ hypervisor: spy, writer, log: pino({ level: "info" }, { write: (l: string) => { lines.push(l); } }), now: () => now });
    fencer.applySettings({ selfFenceAfterMs: 2000, storageHeartbeatIntervalMs: 1000 });
    for (let i = 0; i < 3; i++) { now += 1000; await fencer.tick(); }
    expect(fencer.fenced).toBe(true);
    expect(lines.join("")).toMatch(/SELF-FENCING/);
    expect(stopped).toEqual([]);
    expect(await hv.listDomains()).toEqual([expect.objectContaining({ name: "test", managed: false, powerState: PowerState.POWER_STATE_RUNNING })]);
    await hv.close();
  });
});
