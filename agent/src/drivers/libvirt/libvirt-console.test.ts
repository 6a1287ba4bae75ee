// The libvirt driver's console capability reads the serial log libvirt writes beside the VM's
// other files; no virsh call is involved, so this runs without libvirt.
import { randomUUID } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { NotFoundError } from "#shared/errors.js";
import { requireCapability } from "../hypervisor.js";
import { LibvirtHypervisor } from "./libvirt-hypervisor.js";

describe("LibvirtHypervisor console log", () => {
  const dir = mkdtempSync(join(tmpdir(), "orbit-console-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const hv = new LibvirtHypervisor({ uri: "test:///default", domainType: "qemu", instancesDir: dir });
  const console = requireCapability(hv, "console", "test");

  it("answers the tail of the VM's serial log, cut at a character boundary", async () => {
    const vm = randomUUID();
    mkdirSync(join(dir, vm));
    writeFileSync(hv.serialLogPath(vm), "boot line 1\nété\nlogin: ");
    expect(await console.consoleLog(vm.toUpperCase(), 1024)).toEqual({ text: "boot line 1\nété\nlogin: ", truncated: false });
    // The last 9 bytes start inside the second "é" (2 bytes): that byte is dropped.
    expect(await console.consoleLog(vm, 9)).toEqual({ text: "\nlogin: ", truncated: true });
    expect(await console.consoleLog(vm, 10)).toEqual({ text: "é\nlogin: ", truncated: true });
  });

  it("answers empty output for a VM that printed nothing yet, and NotFoundError for a VM this host does not have", async () => {
    const vm = randomUUID();
    mkdirSync(join(dir, vm));
    expect(await console.consoleLog(vm, 1024)).toEqual({ text: "", truncated: false });
    await expect(console.consoleLog(randomUUID(), 1024)).rejects.toBeInstanceOf(NotFoundError);
  });
});
