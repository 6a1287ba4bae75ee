// The image.download job under the job runner: progress on the image and the job, a manager
// stopping mid-download (the job is resumed and starts again; no half file is ever Ready), and a
// download failing for good leaving the image in Error.
import { createHash } from "node:crypto";
import { createServer, type Server } from "node:http";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { eq } from "drizzle-orm";
import { execa } from "execa";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openTestDatabase, type Database } from "../db/database.js";
import { accounts, images, jobs } from "../db/schema.js";
import { ImageService, IMAGE_DOWNLOAD_JOB } from "../catalog/image-service.js";
import { imageDownloadJob, onImageJobFailed } from "./image-download.job.js";
import { JobRunner } from "./job-runner.js";

const hasQemuImg = await execa("qemu-img", ["--version"]).then(() => true, () => false);
if (!hasQemuImg) console.warn("image-download.job.test: qemu-img is not installed (apt install qemu-utils): skipped");

describe.skipIf(!hasQemuImg)("image.download job", () => {
  let database: Database;
  let accountId: number;
  let store: string;
  let server: Server;
  let base: string;
  const raw = Buffer.alloc(256 * 1024, 7);
  const checksum = `sha256:${createHash("sha256").update(raw).digest("hex")}`;
  let requests = 0;

  beforeAll(async () => {
    database = await openTestDatabase();
    [{ id: accountId }] = await database.db.insert(accounts).values({ name: "images-test" }).returning({ id: accounts.id }) as [{ id: number }];
    store = await mkdtemp(join(tmpdir(), "orbit-image-job-"));
    // 8 KiB every 20 ms: about 0.6 s for the whole file.
    server = createServer((req, res) => {
      requests++;
      if (req.url !== "/disk.raw") { res.writeHead(404).end(); return; }
      res.writeHead(200, { "content-length": raw.length });
      let at = 0;
      const next = () => {
        if (res.destroyed) return;
        if (at >= raw.length) { res.end(); return; }
        res.write(raw.subarray(at, at + 8192));
        at += 8192;
        setTimeout(next, 20);
      };
      next();
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const addr = server.address();
    base = `http://127.0.0.1:${typeof addr === "object" && addr ? addr.port : 0}`;
  });
  afterAll(async () => {
    server?.closeAllConnections();
    await new Promise((r) => server?.close(r));
    await database?.close();
    await rm(store, { recursive: true, force: true });
  });

  const newRunner = () => {
    const runner = new JobRunner({ db: database.db, log: pino({ level: "silent" }), maxAttempts: 1, onFailed: onImageJobFailed(database.db) });
    runner.register(IMAGE_DOWNLOAD_JOB, imageDownloadJob({ db: database.db, storeDir: store, maxBytes: () => 2 ** 30, timeoutMs: () => 30_000 }));
    return runner;
  };
  const imageRow = async (id: number) => (await database.db.select().from(images).where(eq(images.id, id)))[0]!;
  const jobRow = async (id: number) => (await database.db.select().from(jobs).where(eq(jobs.id, id)))[0]!;
  const until = async (what: string, fn: () => Promise<boolean>) => {
    const end = Date.now() + 20_000;
    while (!(await fn())) {
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };

  it("a manager stopping mid-download leaves it Downloading with no file; the next one starts it again to Ready", async () => {
    const first = newRunner();
    const svc = new ImageService({ db: database.db, storeDir: store, enqueue: (id) => first.enqueue(id) });
    const { image, jobId } = await svc.register({ accountId }, { name: "restart", url: `${base}/disk.raw`, checksum, type: "raw" });
    // The image's bytes and the job's percent are written one after the other: wait for both.
    await until("progress part-way", async () => ((await imageRow(image.id)).downloadProgress?.bytes ?? 0) > 0 && ((await jobRow(jobId)).progress ?? 0) > 0);
    const mid = await imageRow(image.id);
    expect(mid.downloadProgress!.bytes).toBeLessThan(raw.length);
    expect((await jobRow(jobId)).progress).toBeGreaterThan(0);
    const stopped = Date.now();
    await first.stop();
    expect(Date.now() - stopped).toBeLessThan(2000); // the download is cut short, not waited for
    expect((await imageRow(image.id)).status).toBe("Downloading");
    expect((await jobRow(jobId)).status).toBe("running");
    expect(await readdir(store)).toEqual([]);

    const before = requests;
    const second = newRunner();
    expect(await second.resume()).toBe(1);
    await second.idle();
    expect(requests).toBe(before + 1);
    const ready = await imageRow(image.id);
    expect(ready).toMatchObject({ status: "Ready", format: "qcow2", virtualSizeBytes: raw.length, error: "" });
    expect(ready.downloadProgress).toMatchObject({ bytes: raw.length, percent: 100 });
    expect(await jobRow(jobId)).toMatchObject({ status: "succeeded", progress: 100, result: { image_id: image.id, format: "qcow2" } });
    expect(await readdir(store)).toEqual([ready.path]);
    await second.stop();
  });

  it("a download failing for good leaves the image in Error with the reason", async () => {
    const runner = newRunner();
    const svc = new ImageService({ db: database.db, storeDir: store, enqueue: (id) => runner.enqueue(id) });
    const { image, jobId } = await svc.register({ accountId }, { name: "gone", url: `${base}/nothing.raw`, checksum, type: "raw" });
    await runner.idle();
    expect(await imageRow(image.id)).toMatchObject({ status: "Error", error: expect.stringContaining("HTTP 404") });
    expect((await jobRow(jobId)).status).toBe("failed");
    expect((await readdir(store)).filter((f) => f.startsWith(`image-${image.id}`))).toEqual([]);
    await runner.stop();
  });
});
