import { mkdtempSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HostProber, pingOnce, tcpKnock } from "./host-prober.js";
import { StorageHeartbeatWriter } from "./storage-heartbeat.js";

const HOST = "7e1d2c3b-4a59-4687-9a0b-1c2d3e4f5a6b";
// The IPv6 discard-only prefix (RFC 6666): nothing ever answers (a cut network, as a probe sees it),
// fast where the host has no IPv6 route, at the timeout where it has. Not an IPv4 test net: behind
// a transparent proxy (this project's sandboxes) any outside TCP connect is accepted.
const UNROUTABLE = "100::1";

let server: Server;
let openPort: number;
let closedPort: number;
let dir: string;
beforeAll(async () => {
  server = createServer((s) => s.destroy());
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  openPort = (server.address() as { port: number }).port;
  const closed = createServer();
  await new Promise<void>((r) => closed.listen(0, "127.0.0.1", r));
  closedPort = (closed.address() as { port: number }).port;
  await new Promise((r) => closed.close(r));
  dir = mkdtempSync(path.join(tmpdir(), "orbit-probe-"));
});
afterAll(async () => {
  await new Promise((r) => server.close(r));
  rmSync(dir, { recursive: true, force: true });
});

describe("network checks", () => {
  it("a TCP knock: connected and refused are both a host that is up; an unroutable address is not, within the timeout", async () => {
    expect(await tcpKnock("127.0.0.1", openPort, 1000)).toEqual({ reachable: true, detail: `tcp ${openPort}: connected` });
    expect(await tcpKnock("127.0.0.1", closedPort, 1000)).toMatchObject({ reachable: true, detail: expect.stringMatching(/refused/) });
    const began = Date.now();
    expect(await tcpKnock(UNROUTABLE, 22, 300)).toMatchObject({ reachable: false });
    expect(Date.now() - began).toBeLessThan(1500);
  });

  it("ping answers for 127.0.0.1 and not for an unroutable address", async () => {
    expect(await pingOnce("127.0.0.1", 1000)).toEqual({ reachable: true, detail: "ping answered" });
    const began = Date.now();
    expect(await pingOnce(UNROUTABLE, 500)).toMatchObject({ reachable: false, detail: expect.stringMatching(/^ping: /) });
    expect(Date.now() - began).toBeLessThan(2500);
  });
});

describe("HostProber", () => {
  it("finds a live host with no agent reachable (its machine answers), with its heartbeat's age", async () => {
    await new StorageHeartbeatWriter({ dir, hostUuid: () => HOST, timeoutMs: 1000 }).write();
    // No agent listens on the probed port: refused, still reachable.
    const r = await new HostProber({ heartbeatDir: dir, tcpPort: closedPort }).probe({ hostUuid: HOST, address: "127.0.0.1", timeoutMs: 1000 });
    expect(r).toMatchObject({ reachable: true, storageHeartbeatSeen: true });
    expect(r.storageHeartbeatAgeMs).toBeGreaterThanOrEqual(0);
    expect(r.storageHeartbeatAgeMs).toBeLessThan(5000);
    expect(r.detail).toMatch(/ping answered; tcp \d+: refused/);
  });

  it("finds a cut-off host unreachable, fast, and says when its heartbeat is missing", async () => {
    const began = Date.now();
    const r = await new HostProber({ heartbeatDir: dir }).probe({ hostUuid: "00000000-0000-4000-8000-000000000000", address: UNROUTABLE, timeoutMs: 400 });
    expect(Date.now() - began).toBeLessThan(2500);
    expect(r).toMatchObject({ reachable: false, storageHeartbeatSeen: false, storageHeartbeatAgeMs: -1, detail: expect.stringMatching(/no heartbeat file/) });
  });

  it("is reachable when only one of ping and TCP answers", async () => {
    const no = async () => ({ reachable: false, detail: "no" });
    const yes = async () => ({ reachable: true, detail: "yes" });
    const p = { hostUuid: HOST, address: "10.0.0.5", timeoutMs: 100 };
    expect((await new HostProber({ heartbeatDir: undefined, ping: yes, knock: no }).probe(p)).reachable).toBe(true);
    expect((await new HostProber({ heartbeatDir: undefined, ping: no, knock: yes }).probe(p)).reachable).toBe(true);
    const none = await new HostProber({ heartbeatDir: undefined, ping: no, knock: no }).probe(p);
    expect(none).toMatchObject({ reachable: false, storageHeartbeatSeen: false, storageHeartbeatAgeMs: -1, detail: expect.stringMatching(/no storage heartbeat dir/) });
  });

  it("refuses a bad uuid (a path), a bad address (an option) and a too long timeout, naming the field", async () => {
    const prober = new HostProber({ heartbeatDir: dir });
    await expect(prober.probe({ hostUuid: "../../etc/passwd", address: "127.0.0.1", timeoutMs: 0 })).rejects.toMatchObject({ code: "invalid_argument", details: { field: "probe_host.host_uuid" } });
    await expect(prober.probe({ hostUuid: HOST, address: "-f", timeoutMs: 0 })).rejects.toMatchObject({ code: "invalid_argument", details: { field: "probe_host.address" } });
    await expect(prober.probe({ hostUuid: HOST, address: "a b", timeoutMs: 0 })).rejects.toMatchObject({ details: { field: "probe_host.address" } });
    await expect(prober.probe({ hostUuid: HOST, address: "127.0.0.1", timeoutMs: 60_000 })).rejects.toMatchObject({ details: { field: "probe_host.timeout_ms" } });
  });
});
