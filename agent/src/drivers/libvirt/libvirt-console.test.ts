// The libvirt driver's console capability reads the serial log libvirt writes beside the VM's
// other files; no virsh call is involved, so this runs without libvirt. The interactive console
// asks virsh for the domain's state: those tests use libvirt's test driver (virsh, no daemon).
import { randomUUID } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { ConflictError, NotFoundError } from "#shared/errors.js";
import { requireCapability } from "../hypervisor.js";
import { LibvirtHypervisor } from "./libvirt-hypervisor.js";
import { toolMissing } from "./tool-availability.js";

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

// libvirt's test driver has one domain, "test", running: its console socket is played here by a
// unix socket server at the path QEMU would bind (the domain XML's `<serial type="unix">`).
const TEST_DOMAIN = "6695eb01-f6a4-8304-79aa-97f2502e193f";

describe.skipIf(toolMissing("virsh"))("LibvirtHypervisor interactive console (test driver)", () => {
  const dir = mkdtempSync(join(tmpdir(), "orbit-console-sock-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const hv = new LibvirtHypervisor({ uri: "test:///default", domainType: "qemu", instancesDir: dir });
  const console = requireCapability(hv, "console", "test");

  it("connects to the running domain's console socket: bytes both ways, and the end when QEMU closes it", async () => {
    mkdirSync(join(dir, TEST_DOMAIN));
    const server = createServer((sock) => {
      sock.write("login: ");
      sock.on("data", (d) => { sock.write(`got ${d.toString()}`); sock.end(); });
    });
    await new Promise<void>((r) => server.listen(hv.consoleSocketPath(TEST_DOMAIN), r));
    try {
      const c = await console.openConsole(TEST_DOMAIN.toUpperCase());
      let out = "";
      c.on("data", (d: Buffer) => { out += d.toString(); });
      const ended = new Promise((r) => c.once("end", r));
      c.write("root\n");
      await ended;
      expect(out).toBe("login: got root\n");
      c.destroy();
    } finally {
      await new Promise((r) => server.close(r));
    }
  });

  it("refuses a domain without a socket (ConflictError), and an unknown domain (NotFoundError)", async () => {
    rmSync(join(dir, TEST_DOMAIN), { recursive: true, force: true });
    const err = await console.openConsole(TEST_DOMAIN).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConflictError);
    expect((err as Error).message).toMatch(/no console socket/);
    await expect(console.openConsole(randomUUID())).rejects.toBeInstanceOf(NotFoundError);
  });
});
