// The image download against a local HTTP server: progress, checksum, size cap, qemu-img checks.
import { createHash } from "node:crypto";
import { createServer, type Server } from "node:http";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execa } from "execa";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ImageDownloadProgress } from "../db/schema.js";
import { downloadImage, type ImageDownloadRequest } from "./image-download.js";

const hasQemuImg = await execa("qemu-img", ["--version"]).then(() => true, () => false);
if (!hasQemuImg) console.warn("image-download.test: qemu-img is not installed (apt install qemu-utils): skipped");

const sha256 = (b: Buffer) => `sha256:${createHash("sha256").update(b).digest("hex")}`;

describe.skipIf(!hasQemuImg)("downloadImage", () => {
  let dir: string;
  let store: string;
  let server: Server;
  let base: string;
  const files = new Map<string, Buffer>();
  /** Paths served slowly (a chunk at a time) so progress is reported more than once. */
  const slow = new Set<string>();

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "orbit-image-src-"));
    store = await mkdtemp(join(tmpdir(), "orbit-image-store-"));
    await execa("qemu-img", ["create", "-f", "qcow2", join(dir, "disk.qcow2"), "64M"]);
    files.set("/disk.qcow2", await readFile(join(dir, "disk.qcow2")));
    // A raw disk with data in it, a few hundred KiB, served in chunks.
    const raw = Buffer.alloc(512 * 1024);
    for (let i = 0; i < raw.length; i += 4096) raw[i] = i % 251;
    files.set("/disk.raw", raw);
    slow.add("/disk.raw");
    files.set("/notes.txt", Buffer.from("these are not the bytes of a disk image\n"));
    server = createServer((req, res) => {
      const body = files.get(req.url ?? "");
      if (!body) { res.writeHead(404).end("not found"); return; }
      res.writeHead(200, { "content-length": body.length });
      if (!slow.has(req.url!)) { res.end(body); return; }
      let at = 0;
      const next = () => {
        if (at >= body.length) { res.end(); return; }
        res.write(body.subarray(at, at + 64 * 1024));
        at += 64 * 1024;
        setTimeout(next, 30);
      };
      next();
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const addr = server.address();
    base = `http://127.0.0.1:${typeof addr === "object" && addr ? addr.port : 0}`;
  });

  afterAll(async () => {
    await new Promise((r) => server.close(r));
    await rm(dir, { recursive: true, force: true });
    await rm(store, { recursive: true, force: true });
  });

  const request = (path: string, over: Partial<ImageDownloadRequest> = {}) => {
    const reports: ImageDownloadProgress[] = [];
    const req: ImageDownloadRequest = {
      url: `${base}${path}`, checksum: sha256(files.get(path) ?? Buffer.alloc(0)), type: "qcow2",
      dest: join(store, `${path.slice(1)}.out`), maxBytes: 10 * 2 ** 20, timeoutMs: 30_000, progressEveryMs: 0,
      onProgress: (p) => { reports.push(p); }, ...over,
    };
    return { req, reports };
  };

  it("downloads a qcow2 image, verifies it and reports progress up to the whole file", async () => {
    const { req, reports } = request("/disk.qcow2");
    const done = await downloadImage(req);
    const served = files.get("/disk.qcow2")!;
    expect(done).toEqual({ format: "qcow2", sizeBytes: served.length, virtualSizeBytes: 64 * 2 ** 20, sha256: sha256(served).slice("sha256:".length) });
    expect(await readFile(req.dest)).toEqual(served);
    const last = reports.at(-1)!;
    expect(last).toMatchObject({ bytes: served.length, total_bytes: served.length, percent: 100 });
    expect(await readdir(store)).toEqual(["disk.qcow2.out"]);
  });

  it("converts a raw disk to qcow2, with progress rising chunk by chunk", async () => {
    const { req, reports } = request("/disk.raw", { type: "raw" });
    const done = await downloadImage(req);
    expect(done.format).toBe("qcow2");
    expect(done.virtualSizeBytes).toBe(512 * 1024);
    const info = JSON.parse((await execa("qemu-img", ["info", "--output=json", req.dest])).stdout) as { format: string };
    expect(info.format).toBe("qcow2");
    // The stored file's hash (what hosts check their copy against), not the download's.
    expect(`sha256:${done.sha256}`).toBe(sha256(await readFile(req.dest)));
    expect(`sha256:${done.sha256}`).not.toBe(req.checksum);
    expect(reports.length).toBeGreaterThan(2);
    const bytes = reports.map((r) => r.bytes);
    expect(bytes).toEqual([...bytes].sort((a, b) => a - b));
    expect(reports[0]!.bytes).toBeLessThan(512 * 1024);
    expect(reports.at(-1)).toMatchObject({ bytes: 512 * 1024, total_bytes: 512 * 1024, percent: 100 });
    expect(reports.at(-1)!.rate_bytes_per_s).toBeGreaterThan(0);
    await rm(req.dest);
  });

  it("refuses a checksum mismatch with both hashes, leaving nothing behind", async () => {
    const wrong = `sha256:${"0".repeat(64)}`;
    const { req } = request("/disk.qcow2", { checksum: wrong, dest: join(store, "mismatch.qcow2") });
    const actual = sha256(files.get("/disk.qcow2")!);
    await expect(downloadImage(req)).rejects.toMatchObject({ retryable: false, message: expect.stringContaining(`expected ${wrong}, got ${actual}`) });
    expect((await readdir(store)).filter((f) => f.startsWith("mismatch"))).toEqual([]);
  });

  it("fails on a 404 without retrying", async () => {
    const { req } = request("/missing.qcow2", { dest: join(store, "missing.qcow2") });
    await expect(downloadImage(req)).rejects.toMatchObject({ retryable: false, message: expect.stringContaining("HTTP 404") });
    expect((await readdir(store)).filter((f) => f.startsWith("missing"))).toEqual([]);
  });

  it("refuses an image larger than the cap (Content-Length known)", async () => {
    const { req } = request("/disk.raw", { type: "raw", maxBytes: 1000, dest: join(store, "big.qcow2") });
    await expect(downloadImage(req)).rejects.toThrow(/larger than image.download.max.bytes \(1000 bytes\)/);
    expect((await readdir(store)).filter((f) => f.startsWith("big"))).toEqual([]);
  });

  it("stops a stream that grows past the cap without a Content-Length", async () => {
    const chunked = createServer((_req, res) => {
      res.writeHead(200); // no Content-Length: chunked
      res.write(Buffer.alloc(4096));
      res.end(Buffer.alloc(4096));
    });
    await new Promise<void>((r) => chunked.listen(0, "127.0.0.1", r));
    const addr = chunked.address();
    try {
      const { req } = request("/x", {
        url: `http://127.0.0.1:${typeof addr === "object" && addr ? addr.port : 0}/x`, maxBytes: 5000, dest: join(store, "chunked.qcow2"),
      });
      await expect(downloadImage(req)).rejects.toThrow(/larger than image.download.max.bytes \(5000 bytes\)/);
      expect((await readdir(store)).filter((f) => f.startsWith("chunked"))).toEqual([]);
    } finally {
      await new Promise((r) => chunked.close(r));
    }
  });

  it("refuses bytes that are not the disk image it was registered as", async () => {
    const { req } = request("/notes.txt", { dest: join(store, "notes.qcow2") });
    await expect(downloadImage(req)).rejects.toThrow(/registered as qcow2 but qemu-img reads it as raw/);
    expect((await readdir(store)).filter((f) => f.startsWith("notes"))).toEqual([]);
  });

  it("keeps an ISO as it is, and refuses a qcow2 registered as an ISO", async () => {
    const { req } = request("/notes.txt", { type: "iso", dest: join(store, "cd.iso") });
    expect((await downloadImage(req)).format).toBe("iso");
    expect(await readFile(req.dest)).toEqual(files.get("/notes.txt"));
    await rm(req.dest);
    const { req: q } = request("/disk.qcow2", { type: "iso", dest: join(store, "notiso.iso") });
    await expect(downloadImage(q)).rejects.toThrow(/ISO image must be raw bytes/);
  });

  it("names qemu-img when it is missing", async () => {
    const { req } = request("/disk.qcow2", { qemuImg: "/nonexistent/qemu-img", dest: join(store, "noqemu.qcow2") });
    await expect(downloadImage(req)).rejects.toThrow(/qemu-img is not installed on the manager/);
    expect((await readdir(store)).filter((f) => f.startsWith("noqemu"))).toEqual([]);
  });

  it("fails a connection refused as retryable and a slow server at the timeout", async () => {
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, "127.0.0.1", r));
    const addr = closed.address();
    await new Promise((r) => closed.close(r));
    const { req } = request("/x", { url: `http://127.0.0.1:${typeof addr === "object" && addr ? addr.port : 0}/x`, dest: join(store, "refused.qcow2") });
    await expect(downloadImage(req)).rejects.toMatchObject({ retryable: true });

    const { req: slowReq } = request("/disk.raw", { type: "raw", timeoutMs: 50, dest: join(store, "slow.qcow2") });
    await expect(downloadImage(slowReq)).rejects.toThrow(/longer than image.download.timeout.ms \(50 ms\)/);
    expect((await readdir(store)).filter((f) => f.startsWith("slow") || f.startsWith("refused"))).toEqual([]);
  });
});
