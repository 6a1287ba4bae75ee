import { mkdtempSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { heartbeatFile, nodeHeartbeatFs, readStorageHeartbeat, StorageHeartbeatWriter, type HeartbeatFs } from "./storage-heartbeat.js";

const HOST = "0b6c3c9e-6f0a-4a57-9d43-2f4f3f1e9a11";
const dirs: string[] = [];
function tempDir(): string {
  const d = mkdtempSync(path.join(tmpdir(), "orbit-hb-"));
  dirs.push(d);
  return d;
}
afterEach(() => { for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true }); });

describe("StorageHeartbeatWriter", () => {
  it("writes <dir>/<host uuid> with the time, through a temp file renamed over it", async () => {
    const dir = tempDir();
    const ops: string[] = [];
    const spy: HeartbeatFs = {
      ...nodeHeartbeatFs,
      writeSynced: async (f, d) => { ops.push(`write ${path.basename(f)}`); await nodeHeartbeatFs.writeSynced(f, d); },
      rename: async (a, b) => { ops.push(`rename ${path.basename(a)} -> ${path.basename(b)}`); await nodeHeartbeatFs.rename(a, b); },
    };
    let now = 1_700_000_000_000;
    const w = new StorageHeartbeatWriter({ dir, hostUuid: () => HOST.toUpperCase(), timeoutMs: 1000, fs: spy, now: () => now });
    expect(await w.write()).toMatchObject({ ok: true, atMs: now });
    now += 2000;
    expect(await w.write()).toMatchObject({ ok: true, atMs: now });
    expect(JSON.parse(readFileSync(path.join(dir, HOST), "utf8"))).toEqual({ host_uuid: HOST, written_at_ms: now });
    expect(readdirSync(dir)).toEqual([HOST]);
    expect(ops.slice(0, 2)).toEqual([`write ${HOST}.tmp`, `rename ${HOST}.tmp -> ${HOST}`]);
  });

  it("fails (never creates it) when the dir is missing, and when its path is a regular file", async () => {
    const dir = tempDir();
    const missing = new StorageHeartbeatWriter({ dir: path.join(dir, "not-mounted"), hostUuid: () => HOST, timeoutMs: 1000 });
    expect(await missing.write()).toMatchObject({ ok: false, error: expect.stringMatching(/ENOENT/) });
    const file = path.join(dir, "a-file");
    writeFileSync(file, "x");
    const notDir = new StorageHeartbeatWriter({ dir: file, hostUuid: () => HOST, timeoutMs: 1000 });
    expect(await notDir.write()).toMatchObject({ ok: false, error: expect.stringMatching(/ENOTDIR/) });
    expect(readdirSync(dir)).toEqual(["a-file"]);
  });

  it("fails before the host UUID is known", async () => {
    const w = new StorageHeartbeatWriter({ dir: tempDir(), hostUuid: () => "", timeoutMs: 1000 });
    expect(await w.write()).toMatchObject({ ok: false, error: "this host's UUID is not known yet" });
  });

  it("counts a hung write as failed after its timeout, and issues no new write while it hangs", async () => {
    let calls = 0;
    let release!: () => void;
    const hanging: HeartbeatFs = {
      ...nodeHeartbeatFs,
      writeSynced: () => { calls++; return new Promise<void>((r) => { release = r; }); },
      rename: async () => undefined,
    };
    const w = new StorageHeartbeatWriter({ dir: "/nfs", hostUuid: () => HOST, timeoutMs: 50, fs: hanging });
    const began = Date.now();
    expect(await w.write()).toMatchObject({ ok: false, error: expect.stringMatching(/did not finish within 50 ms/) });
    expect(Date.now() - began).toBeLessThan(1000);
    expect(await w.write()).toMatchObject({ ok: false, error: expect.stringMatching(/has not returned \(storage hung\?\)/) });
    expect(calls).toBe(1);
    // The storage answers again: the next write is a real one.
    release();
    await new Promise((r) => setTimeout(r, 10));
    expect(await w.write()).toMatchObject({ ok: false, error: expect.stringMatching(/did not finish/) });
    expect(calls).toBe(2);
  });

  it("reports a failing write", async () => {
    const failing: HeartbeatFs = { ...nodeHeartbeatFs, writeSynced: () => Promise.reject(Object.assign(new Error("EIO: i/o error"), { code: "EIO" })) };
    const w = new StorageHeartbeatWriter({ dir: "/nfs", hostUuid: () => HOST, timeoutMs: 1000, fs: failing });
    expect(await w.write()).toMatchObject({ ok: false, error: "EIO: i/o error" });
  });
});

describe("readStorageHeartbeat", () => {
  it("ages a heartbeat by the younger of its written time and its mtime", async () => {
    const dir = tempDir();
    const now = Date.now();
    writeFileSync(heartbeatFile(dir, HOST), JSON.stringify({ host_uuid: HOST, written_at_ms: now - 30_000 }));
    utimesSync(heartbeatFile(dir, HOST), (now - 60_000) / 1000, (now - 60_000) / 1000);
    const old = await readStorageHeartbeat({ dir, hostUuid: HOST, timeoutMs: 1000, now: () => now });
    expect(old.seen).toBe(true);
    expect(old.ageMs).toBe(30_000);
    // A writer whose clock runs 50 s behind: its fresh file's mtime says it is young.
    utimesSync(heartbeatFile(dir, HOST), (now - 1000) / 1000, (now - 1000) / 1000);
    const young = await readStorageHeartbeat({ dir, hostUuid: HOST, timeoutMs: 1000, now: () => now });
    expect(young.ageMs).toBeGreaterThanOrEqual(999);
    expect(young.ageMs).toBeLessThan(1100);
  });

  it("says unseen (-1) for a missing file, and for a read that hangs past its timeout", async () => {
    expect(await readStorageHeartbeat({ dir: tempDir(), hostUuid: HOST, timeoutMs: 1000 })).toMatchObject({ seen: false, ageMs: -1, detail: expect.stringMatching(/no heartbeat file/) });
    const hanging: HeartbeatFs = { ...nodeHeartbeatFs, readFile: () => new Promise(() => undefined), mtimeMs: () => new Promise(() => undefined) };
    expect(await readStorageHeartbeat({ dir: "/nfs", hostUuid: HOST, timeoutMs: 30, fs: hanging })).toMatchObject({
      seen: false, ageMs: -1, detail: expect.stringMatching(/could not be read.*within 30 ms/),
    });
  });

  it("reads what the writer wrote", async () => {
    const dir = tempDir();
    await new StorageHeartbeatWriter({ dir, hostUuid: () => HOST, timeoutMs: 1000 }).write();
    const r = await readStorageHeartbeat({ dir, hostUuid: HOST, timeoutMs: 1000 });
    expect(r.seen).toBe(true);
    expect(r.ageMs).toBeLessThan(1000);
  });
});
