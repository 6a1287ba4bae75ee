// An image registered from a URL, and the interactive serial console, through the whole stack on
// real libvirt (issue 13): the manager downloads the image from a local HTTP server, the agent
// fetches it over gRPC (FetchImage) into its images dir when a VM of it is deployed, the VM's
// root overlay is backed by that file and the test guest (build-test-guest.sh) boots. Then
// open-console's one-time URL carries the guest's serial console over a WebSocket: what is typed
// reaches the guest (it answers GUEST-ECHO <line>), the serial log and the console logs API still
// see the output, close-console ends the socket and the URL cannot be used again, and stopping the
// VM ends a session. Tests run in order.
import { createHash, randomUUID } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { join } from "node:path";
import { execa } from "execa";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectConsole } from "../e2e/console-client.js";
import { missingTools } from "../../agent/src/drivers/libvirt/tool-availability.js";
import type { TestCloud } from "../e2e/harness.js";
import { REQUIRED_TOOLS, type SandboxedLibvirtd } from "./sandboxed-libvirtd.js";
import { libvirtTestStack, type TestGuestHypervisor } from "./libvirt-test-host.js";

const missing = missingTools([...REQUIRED_TOOLS, "nft", "ip"]);
const notRoot = process.getuid?.() !== 0;
const reason = missing.length > 0 ? `${missing.join(", ")} not installed` : notRoot ? "needs root" : "";
const skip = reason !== "" && !process.env.CI;
if (skip) console.warn(`real-libvirt console/images e2e skipped: ${reason} (bash scripts/install-system-deps.sh)`);



describe.skipIf(skip)(`images from a URL and the serial console through manager and agent on a real libvirtd${reason ? ` (${reason})` : ""}`, () => {
  let daemon: SandboxedLibvirtd | undefined;
  let cloud: TestCloud | undefined;
  let hv: TestGuestHypervisor;
  let server: Server | undefined;
  let work: string;
  let disk: Buffer;
  let vm: { id: number; uuid: string };
  const timings: string[] = [];

  const serial = (): string => (existsSync(hv.serialLogPath(vm.uuid)) ? readFileSync(hv.serialLogPath(vm.uuid), "utf8") : "");
  const instance = async (id: number) => (await cloud!.api("GET", `/v1/core/virtual-machines/${id}`)).json.instance;
  const waitSerial = (what: string, needle: string, timeoutMs = 60_000): Promise<string> =>
    cloud!.waitFor(what, async () => (serial().includes(needle) ? serial() : undefined), timeoutMs).catch((e: unknown) => {
      throw new Error(`${String(e)}\n--- serial log (tail)\n${serial().slice(-2500)}`);
    });
  const openConsole = () => cloud!.api("POST", `/v1/core/virtual-machines/${vm.id}/open-console`);
  const consoleLogs = async (): Promise<string> => {
    const asked = await cloud!.api("POST", `/v1/core/virtual-machines/${vm.id}/logs`, {});
    expect(asked.status, JSON.stringify(asked.json)).toBe(200);
    return cloud!.waitFor("the console logs", async () => {
      const r = await cloud!.api("GET", `/v1/core/virtual-machines/${vm.id}/logs?request_id=${asked.json.request_id}`);
      expect(r.status, JSON.stringify(r.json)).toBe(200);
      return r.json.request_status === "succeeded" ? (r.json.logs as string) : undefined;
    }, 15_000);
  };

  const stack = libvirtTestStack();
  beforeAll(async () => {
    if (reason) throw new Error(`real-libvirt tests cannot run: ${reason} (CI must install libvirt-daemon, qemu-system-x86, qemu-utils, genisoimage, nftables)`);
    // A short work dir: the console socket (<instances>/<uuid>/console.sock) must fit sun_path's 107 bytes.
    ({ cloud, hv, daemon, work } = await stack.start({ workPrefix: "orbit-e2e-con-", hostname: "libvirt-console-host", images: true }));
    // The image to register: a blank 64 MiB qcow2 (the guest boots from its kernel and initrd), served over HTTP.
    const source = join(work, "served.qcow2");
    await execa("qemu-img", ["create", "-q", "-f", "qcow2", source, "64M"]);
    disk = readFileSync(source);
    server = createServer((req, res) => {
      if (req.url !== "/tiny.qcow2") { res.writeHead(404).end(); return; }
      res.writeHead(200, { "content-length": disk.length }).end(disk);
    });
    await new Promise<void>((r) => server!.listen(0, "127.0.0.1", r));
  }, 300_000);

  afterAll(async () => {
    if (timings.length) console.info(`console/images e2e on QEMU/TCG: ${timings.join(", ")}`);
    if (server) await new Promise((r) => server!.close(r));
    await stack.stop();
  }, 60_000);

  it("an image registered from a URL is fetched by the host over gRPC; the VM's root overlay is backed by it and the guest boots", async () => {
    const addr = server!.address();
    const url = `http://127.0.0.1:${typeof addr === "object" && addr ? addr.port : 0}/tiny.qcow2`;
    const checksum = `sha256:${createHash("sha256").update(disk).digest("hex")}`;
    let t = Date.now();
    const r = await cloud!.api("POST", "/v1/admin/images", { name: "Tiny from URL", url, checksum, type: "qcow2", os_type: "linux", version: "1" });
    expect(r.status, JSON.stringify(r.json)).toBe(202);
    const ready = await cloud!.waitFor("the image Ready", async () => {
      const img = (await cloud!.api("GET", `/v1/admin/images/${r.json.image.id}`)).json.image;
      if (img?.status === "Error") throw new Error(`image download failed: ${img.error}`);
      return img?.status === "Ready" ? img : undefined;
    }, 30_000);
    timings.push(`register to Ready ${Date.now() - t} ms`);
    const fetched = join(work, "images", ready.path as string);
    // The host has never seen it: only the manager's store has it.
    expect(existsSync(fetched)).toBe(false);

    t = Date.now();
    const created = await cloud!.api("POST", "/v1/core/virtual-machines", { name: "con-a", flavor_name: "t1-tiny", image_name: "Tiny from URL" });
    expect(created.status, JSON.stringify(created.json)).toBe(200);
    vm = { id: created.json.instances[0].id, uuid: created.json.instances[0].uuid };
    await cloud!.waitFor("the VM ACTIVE", async () => {
      const x = await instance(vm.id);
      if (x?.status === "ERROR") throw new Error(`deploy failed: ${x.state_reason}\n${daemon!.logs()}`);
      return x?.status === "ACTIVE";
    }, 60_000);
    timings.push(`create to ACTIVE (fetch included) ${Date.now() - t} ms`);
    await waitSerial("GUEST-READY", "GUEST-READY");
    timings.push(`create to GUEST-READY ${Date.now() - t} ms`);

    // The fetched file is the registered image, byte for byte.
    expect(createHash("sha256").update(readFileSync(fetched)).digest("hex")).toBe(checksum.slice("sha256:".length));
    // The root overlay (-U: the running guest holds its lock) is backed by it.
    const root = join(work, "instances", vm.uuid, "root.qcow2");
    expect(await hv.virsh.run(["dumpxml", vm.uuid])).toContain(root);
    const info = JSON.parse((await execa("qemu-img", ["info", "--output=json", "-U", root])).stdout) as Record<string, unknown>;
    expect(info["full-backing-filename"] ?? info["backing-filename"]).toBe(fetched);
    expect(info["backing-filename-format"]).toBe("qcow2");
  }, 120_000);

  it("open-console's URL carries the guest's serial console both ways; the serial log and the logs API still see the output", async () => {
    // QEMU's socket is in the instance dir, within sun_path (else the driver falls back to a pty, with no console).
    const sock = hv.consoleSocketPath(vm.uuid);
    expect(Buffer.byteLength(sock)).toBeLessThanOrEqual(107);
    expect(await hv.virsh.run(["dumpxml", vm.uuid])).toMatch(new RegExp(`<serial type=['"]unix['"]>\\s*<source mode=['"]bind['"] path=['"]${sock.replaceAll(".", "\\.")}['"]`));

    const t = Date.now();
    const opened = await openConsole();
    expect(opened.status, JSON.stringify(opened.json)).toBe(200);
    const url = opened.json.console.url as string;
    expect(url).toMatch(/^ws:\/\/127\.0\.0\.1:\d+\/v1\/console\/\S+$/);
    const c = await connectConsole(url);
    const word = `orbit-${randomUUID().slice(0, 8)}`;
    // Typed as a terminal would: the guest's tty turns the CR into a line end and echoes it.
    c.ws.send(`${word}\r`);
    await cloud!.waitFor(`GUEST-ECHO ${word} on the socket`, async () => c.text().includes(`GUEST-ECHO ${word}`), 20_000)
      .catch((e: unknown) => { throw new Error(`${String(e)}\n--- received\n${c.text()}\n--- serial log (tail)\n${serial().slice(-1500)}`); });
    timings.push(`open-console to the guest's answer ${Date.now() - t} ms`);
    // A second line in the same session: the session lasts, lines come one by one.
    c.ws.send(`${word}-2\r`);
    await cloud!.waitFor("the second echo", async () => c.text().includes(`GUEST-ECHO ${word}-2`), 20_000);

    // The serial log goes on growing during the session, and the logs API answers from it.
    await waitSerial("the echo in serial.log", `GUEST-ECHO ${word}-2`, 10_000);
    expect(serial()).toContain("GUEST-READY");
    expect(await consoleLogs()).toContain(`GUEST-ECHO ${word}-2`);

    // close-console ends the socket; the used URL is refused.
    const closed = await cloud!.api("POST", `/v1/core/virtual-machines/${vm.id}/close-console`);
    expect(closed.status, JSON.stringify(closed.json)).toBe(200);
    expect(closed.json.closed_sessions).toBe(1);
    const end = await Promise.race([c.closed, new Promise<undefined>((r) => setTimeout(() => r(undefined), 10_000))]);
    expect(end, "the socket was still open 10 s after close-console").toBeDefined();
    await expect(connectConsole(url)).rejects.toThrow(/refused: HTTP 4\d\d/);

    // A new URL opens a new session on the same console (QEMU serves one client at a time: the first one has left).
    const again = await openConsole();
    expect(again.status, JSON.stringify(again.json)).toBe(200);
    expect(again.json.console.url).not.toBe(url);
    const c2 = await connectConsole(again.json.console.url as string);
    c2.ws.send(`${word}-3\r`);
    await cloud!.waitFor("the echo in a new session", async () => c2.text().includes(`GUEST-ECHO ${word}-3`), 20_000);
    c2.ws.close();
    await c2.closed;
  }, 90_000);

  it("a console session ends when its VM stops, and a stopped VM's console cannot be opened", async () => {
    const opened = await openConsole();
    expect(opened.status, JSON.stringify(opened.json)).toBe(200);
    const c = await connectConsole(opened.json.console.url as string);
    const t = Date.now();
    const stop = await cloud!.api("POST", `/v1/core/virtual-machines/${vm.id}/stop`);
    expect(stop.status, JSON.stringify(stop.json)).toBe(200);
    const end = await Promise.race([c.closed, new Promise<undefined>((r) => setTimeout(() => r(undefined), 20_000))]);
    expect(end, "the socket was still open 20 s after stop").toBeDefined();
    timings.push(`stop to the console socket closed ${Date.now() - t} ms`);
    await cloud!.waitFor("the VM SHUTOFF", async () => (await instance(vm.id))?.status === "SHUTOFF", 30_000);
    const refused = await openConsole();
    expect(refused.status, JSON.stringify(refused.json)).toBe(409);
  }, 60_000);
});
