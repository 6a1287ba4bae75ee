// Interactive serial console through manager → WebSocket / gRPC stream → agent → simulator:
// open-console answers a one-time URL, the socket carries bytes both ways (the simulated shell
// answers uname), close-console ends it, a used or expired URL is refused, another account's VM
// is a 404 and a stopped VM a 409.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { PassThrough } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectConsole, type ConsoleConnection } from "./console-client.js";
import { run } from "../../cli/src/program.js";
import { createUserKey, errorShapeProblems, jobsIdle, startTestCloud, type TestCloud } from "./harness.js";

let cloud: TestCloud;
let alice: string;
let bob: string;
let vmId: number;

beforeAll(async () => {
  cloud = await startTestCloud({
    hosts: [{ hostname: "console-a", uuid: "74000000-0000-4000-8000-000000000001", cpus: 16, memoryMib: 32768 }],
  });
  await cloud.waitFor("host up", async () => (await cloud.api("GET", "/v1/admin/hosts")).json.hosts?.[0]?.state === "Up");
  alice = await createUserKey(cloud, "console-alice");
  bob = await createUserKey(cloud, "console-bob");
  const created = await cloud.api("POST", "/v1/core/virtual-machines", { name: "console-vm", flavor_name: "n1-cpu-small", image_name: "Debian 12" }, alice);
  expect(created.status).toBe(200);
  vmId = created.json.instances[0].id;
  await jobsIdle(cloud);
  expect((await cloud.api("GET", `/v1/core/virtual-machines/${vmId}`, undefined, alice)).json.instance.status).toBe("ACTIVE");
}, 120_000);
afterAll(async () => { await cloud?.stop(); });

const openConsole = (key = alice, id = vmId) => cloud.api("POST", `/v1/core/virtual-machines/${id}/open-console`, undefined, key);
const closeConsole = (key = alice, id = vmId) => cloud.api("POST", `/v1/core/virtual-machines/${id}/close-console`, undefined, key);


const waitText = (c: ConsoleConnection, what: string | RegExp) => cloud.waitFor(`console shows ${what}`, async () => {
  const t = c.text();
  return (typeof what === "string" ? t.includes(what) : what.test(t)) ? t : undefined;
});

describe("open-console", () => {
  it("answers a one-time ws:// URL to the VM's console, which answers uname through the simulated shell", async () => {
    const r = await openConsole();
    expect(r.status, JSON.stringify(r.json)).toBe(200);
    expect(r.json.status).toBe(true);
    const { url, expires_at } = r.json.console;
    expect(url).toMatch(/^ws:\/\/[^/]+\/v1\/console\/[A-Za-z0-9_-]{43}$/);
    const ttl = Date.parse(expires_at) - Date.now();
    expect(ttl).toBeGreaterThan(50_000);
    expect(ttl).toBeLessThanOrEqual(60_000);

    const c = await connectConsole(url);
    await waitText(c, "root@console-vm:~# ");
    c.ws.send("uname\n");
    const after = await waitText(c, /uname\r\nLinux\r\nroot@console-vm:~# $/);
    expect(after).toContain("Linux");
    c.ws.send("frobnicate\r");
    await waitText(c, "frobnicate: command not found");

    // The same URL again: refused, before any socket opens.
    await expect(connectConsole(url)).rejects.toThrow("HTTP 401");
    c.ws.close();
    await c.closed;
  });

  it("answers a plain GET of the URL with 400 without using the token up", async () => {
    const { url } = (await openConsole()).json.console;
    const plain = await fetch(url.replace(/^ws/, "http"));
    expect(plain.status).toBe(400);
    const body = await plain.json() as Record<string, unknown>;
    expect(errorShapeProblems(400, body)).toEqual([]);
    expect(body.message).toMatch(/WebSocket/);
    const c = await connectConsole(url);
    await waitText(c, "# ");
    c.ws.close();
    await c.closed;
  });


  it("close-console ends an open console connection and refuses unused URLs", async () => {
    const first = await connectConsole((await openConsole()).json.console.url);
    await waitText(first, "# ");
    const unused = (await openConsole()).json.console.url;
    const r = await closeConsole();
    expect(r.status, JSON.stringify(r.json)).toBe(200);
    expect(r.json).toMatchObject({ status: true, closed_sessions: 1 });
    const ended = await first.closed;
    expect(ended.reason).toContain("closed");
    await expect(connectConsole(unused)).rejects.toThrow("HTTP 401");
    // Nothing open any more.
    expect((await closeConsole()).json.closed_sessions).toBe(0);
  });

  it("keeps one connection per VM: a second one takes over and the first is closed", async () => {
    const first = await connectConsole((await openConsole()).json.console.url);
    await waitText(first, "# ");
    const second = await connectConsole((await openConsole()).json.console.url);
    expect((await first.closed).reason).toMatch(/took over/);
    await waitText(second, "# ");
    second.ws.send("uname\n");
    await waitText(second, "uname\r\nLinux\r\n");
    second.ws.close();
    await second.closed;
  });

  it("refuses an unknown token", async () => {
    const base = new URL((await openConsole()).json.console.url);
    await expect(connectConsole(`ws://${base.host}/v1/console/not-a-token`)).rejects.toThrow("HTTP 401");
  });

  it("answers 404 for another account's VM and for a VM that does not exist, on both routes", async () => {
    for (const r of [await openConsole(bob), await closeConsole(bob), await openConsole(alice, 999_999)]) {
      expect(r.status).toBe(404);
      expect(errorShapeProblems(404, r.json)).toEqual([]);
    }
  });
});

describe("console token expiry", () => {
  it("refuses a URL used after console.token.ttl.seconds", async () => {
    const set = await cloud.api("PUT", "/v1/admin/settings/console.token.ttl.seconds", { value: 1 });
    expect(set.status, JSON.stringify(set.json)).toBe(200);
    try {
      const r = await openConsole();
      expect(Date.parse(r.json.console.expires_at) - Date.now()).toBeLessThanOrEqual(1000);
      await new Promise((res) => setTimeout(res, 1200));
      await expect(connectConsole(r.json.console.url)).rejects.toThrow("HTTP 401");
    } finally {
      await cloud.api("PUT", "/v1/admin/settings/console.token.ttl.seconds", { value: 60 });
    }
  });
});

describe("orbit vm console", () => {
  it("pipes stdin to the guest and its output to stdout, and detaches on Ctrl-]", async () => {
    const configHome = mkdtempSync(path.join(tmpdir(), "orbit-console-cli-"));
    try {
      const stdin = new PassThrough();
      let out = "";
      let err = "";
      const code = run(["vm", "console", String(vmId)], {
        stdin, stdout: { write: (s: string) => { out += s; } }, stderr: { write: (s: string) => { err += s; return true; } } as NodeJS.WritableStream,
        env: { ORBIT_URL: cloud.manager.apiUrl, ORBIT_API_KEY: alice, XDG_CONFIG_HOME: configHome, HOME: configHome },
      });
      await cloud.waitFor("prompt", async () => out.includes("root@console-vm:~# "));
      stdin.write("whoami\r");
      await cloud.waitFor("whoami's answer", async () => out.includes("whoami\r\nroot\r\n"));
      stdin.write("\u001d");
      expect(await code).toBe(0);
      expect(err).toContain("Ctrl-]");
      expect(err).toMatch(/closed: detached/);
      // The session is gone on the manager: nothing left for close-console.
      expect((await closeConsole()).json.closed_sessions).toBe(0);
    } finally {
      rmSync(configHome, { recursive: true, force: true });
    }
  });

  it("fails with the API's message for another account's VM", async () => {
    let err = "";
    const code = await run(["vm", "console", String(vmId)], {
      stdin: new PassThrough(), stdout: { write: () => true }, stderr: { write: (s: string) => { err += s; return true; } } as NodeJS.WritableStream,
      env: { ORBIT_URL: cloud.manager.apiUrl, ORBIT_API_KEY: bob, XDG_CONFIG_HOME: tmpdir(), HOME: tmpdir() },
    });
    expect(code).not.toBe(0);
    expect(err).toMatch(/not found/i);
  });
});

describe("the VM's host going away", () => {
  it("ends its console connections when the host's agent stream ends", async () => {
    const c = await connectConsole((await openConsole()).json.console.url);
    await waitText(c, "# ");
    await cloud.fleet.stopAgent(0);
    try {
      expect((await c.closed).reason).toMatch(/host disconnected/);
    } finally {
      await cloud.fleet.startAgent(0);
    }
    await cloud.waitFor("VM active again", async () =>
      (await cloud.api("GET", `/v1/core/virtual-machines/${vmId}`, undefined, alice)).json.instance.status === "ACTIVE");
    // And the console works again over the new stream.
    const again = await connectConsole((await openConsole()).json.console.url);
    await waitText(again, "# ");
    again.ws.close();
    await again.closed;
  });
});

describe("a VM that stops", () => {
  it("ends its console connection when it stops, and refuses open-console with 409 naming the state", async () => {
    const c = await connectConsole((await openConsole()).json.console.url);
    await waitText(c, "# ");
    const stop = await cloud.api("GET", `/v1/core/virtual-machines/${vmId}/stop`, undefined, alice);
    expect(stop.status, JSON.stringify(stop.json)).toBe(200);
    const ended = await c.closed;
    expect(ended.reason).toMatch(/console closed/);
    await jobsIdle(cloud);
    const r = await openConsole();
    expect(r.status).toBe(409);
    expect(errorShapeProblems(409, r.json)).toEqual([]);
    expect(r.json.message).toContain("Stopped");
  });
});
