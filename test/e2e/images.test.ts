// Images registered from a URL: the admin registers one served by a local HTTP server, watches
// its download's progress (image and job) until Ready, users then see it and a VM is made of it;
// a host fetches its file from the manager (FetchImage); a bad checksum ends in Error; bad
// requests are 4xx and change nothing.
import { createHash } from "node:crypto";
import { createServer, type Server } from "node:http";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { execa } from "execa";
import { AgentServiceClient } from "#shared/protocol.js";
import { fetchImageFile } from "../../agent/src/connection/image-fetch.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createUserKey, errorShapeProblems, startTestCloud, stateDigest, type TestCloud } from "./harness.js";

const hasQemuImg = await execa("qemu-img", ["--version"]).then(() => true, () => false);
if (!hasQemuImg) console.warn("images.test: qemu-img is not installed (apt install qemu-utils): skipped");

describe.skipIf(!hasQemuImg)("images from a URL", () => {
  let cloud: TestCloud;
  let server: Server;
  let base: string;
  let dir: string;
  let disk: Buffer;
  let checksum: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "orbit-e2e-images-"));
    await execa("qemu-img", ["create", "-f", "qcow2", join(dir, "disk.qcow2"), "1G"]);
    disk = await readFile(join(dir, "disk.qcow2"));
    checksum = `sha256:${createHash("sha256").update(disk).digest("hex")}`;
    // Served 8 KiB every 50 ms (about a second), so the download is slow enough to be seen in progress.
    server = createServer((req, res) => {
      if (req.url !== "/disk.qcow2") { res.writeHead(404).end(); return; }
      res.writeHead(200, { "content-length": disk.length });
      let at = 0;
      const next = () => {
        if (at >= disk.length) { res.end(); return; }
        res.write(disk.subarray(at, at + 8 * 1024));
        at += 8 * 1024;
        setTimeout(next, 50);
      };
      next();
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const addr = server.address();
    base = `http://127.0.0.1:${typeof addr === "object" && addr ? addr.port : 0}`;
    cloud = await startTestCloud({ hosts: [{ hostname: "img-a", uuid: "1a9e0000-0000-4000-8000-0000000000a1", cpus: 16, memoryMib: 64 * 1024 }] });
    await cloud.waitFor("host up", async () => (await cloud.api("GET", "/v1/admin/hosts")).json.hosts?.[0]?.state === "Up");
  }, 120_000);

  afterAll(async () => {
    await cloud?.stop();
    await new Promise((r) => server?.close(r));
    await rm(dir, { recursive: true, force: true });
  });

  const userImageNames = async (key?: string): Promise<string[]> => {
    const r = await cloud.api("GET", "/v1/core/images", undefined, key);
    expect(r.status, JSON.stringify(r.json)).toBe(200);
    return (r.json.images as { images: { name: string }[] }[]).flatMap((g) => g.images.map((i) => i.name));
  };

  it("downloads with progress until Ready; users then see it and a VM is made of it", async () => {
    const r = await cloud.api("POST", "/v1/admin/images", {
      name: "Tiny qcow2", url: `${base}/disk.qcow2`, checksum, type: "qcow2", os_type: "linux", version: "1", labels: ["test"],
    });
    expect(r.status, JSON.stringify(r.json)).toBe(202);
    const id = r.json.image.id as number;
    const jobId = r.json.job_id as number;
    expect(r.json.image).toMatchObject({ name: "Tiny qcow2", status: "Downloading", checksum, source_url: `${base}/disk.qcow2`, job_id: jobId });

    // Not for users while it downloads, nor by name at create.
    expect(await userImageNames()).not.toContain("Tiny qcow2");
    const early = await cloud.api("POST", "/v1/core/virtual-machines", { name: "too-early", flavor_name: "s1.small", image_name: "Tiny qcow2", count: 1 });
    expect(early.status, JSON.stringify(early.json)).toBe(400);

    const seen: { bytes: number; percent: number | null }[] = [];
    const jobProgress: number[] = [];
    const ready = await cloud.waitFor("image Ready", async () => {
      const img = (await cloud.api("GET", `/v1/admin/images/${id}`)).json.image;
      const job = (await cloud.api("GET", `/v1/core/jobs/${jobId}`)).json.job;
      if (img.download_progress) seen.push(img.download_progress);
      jobProgress.push(job.progress);
      return img.status === "Ready" ? img : img.status === "Error" ? { failed: img.error } : undefined;
    }, 60_000);
    expect(ready.failed).toBeUndefined();
    expect(ready).toMatchObject({ status: "Ready", format: "qcow2", size_bytes: disk.length, virtual_size_bytes: 2 ** 30, error: "" });
    expect(ready.download_progress).toMatchObject({ bytes: disk.length, total_bytes: disk.length, percent: 100 });
    expect(ready.download_progress.rate_bytes_per_s).toBeGreaterThan(0);
    // Progress was seen part-way and only rose.
    expect(seen.some((p) => p.bytes > 0 && p.bytes < disk.length)).toBe(true);
    expect(seen.map((p) => p.bytes)).toEqual([...seen.map((p) => p.bytes)].sort((a, b) => a - b));
    expect(jobProgress.some((p) => p > 0 && p < 100)).toBe(true);

    const job = (await cloud.api("GET", `/v1/core/jobs/${jobId}`)).json.job;
    expect(job).toMatchObject({ kind: "image.download", status: "succeeded", progress: 100, result: { image_id: id, format: "qcow2", size_bytes: disk.length } });

    const userKey = await createUserKey(cloud, "img-user");
    expect(await userImageNames(userKey)).toContain("Tiny qcow2");
    const vm = await cloud.api("POST", "/v1/core/virtual-machines", { name: "from-url", flavor_name: "s1.small", image_name: "Tiny qcow2", count: 1 }, userKey);
    expect(vm.status, JSON.stringify(vm.json)).toBe(200);
    const vmId = vm.json.instances[0].id as number;
    await cloud.waitFor("VM active", async () => (await cloud.api("GET", `/v1/core/virtual-machines/${vmId}`, undefined, userKey)).json.instance?.status === "ACTIVE");

    // A host lacking the file fetches it from the manager over its agent connection.
    const dest = join(dir, "fetched.qcow2");
    await cloud.fleet.agents[0]!.connection.fetchImage(ready.path, dest);
    expect(await readFile(dest)).toEqual(disk);
    await expect(cloud.fleet.agents[0]!.connection.fetchImage("image-999999.qcow2", join(dir, "none.qcow2")))
      .rejects.toMatchObject({ retryable: false, message: expect.stringMatching(/no Ready image is stored as "image-999999.qcow2"/) });
    await expect(cloud.fleet.agents[0]!.connection.fetchImage("../pglite/x", join(dir, "none.qcow2"))).rejects.toMatchObject({ retryable: false });
    // Without the host's credentials: refused.
    const stranger = new AgentServiceClient(cloud.manager.grpcAddress, grpc.credentials.createInsecure());
    try {
      await expect(fetchImageFile(stranger, new grpc.Metadata(), ready.path, join(dir, "stolen.qcow2"))).rejects.toThrow(/could not be fetched/);
    } finally {
      stranger.close();
    }
    await expect(readFile(join(dir, "stolen.qcow2"))).rejects.toThrow(/ENOENT/);

    // In use: not deletable.
    const del = await cloud.api("DELETE", `/v1/admin/images/${id}`);
    expect(del.status, JSON.stringify(del.json)).toBe(409);
    expect(errorShapeProblems(del.status, del.json)).toEqual([]);
  }, 90_000);

  it("a checksum mismatch ends in Error naming both hashes, hidden from users, deletable", async () => {
    const wrong = `sha256:${"ab".repeat(32)}`;
    const r = await cloud.api("POST", "/v1/admin/images", { name: "Bad sum", url: `${base}/disk.qcow2`, checksum: wrong, type: "qcow2" });
    expect(r.status, JSON.stringify(r.json)).toBe(202);
    const id = r.json.image.id as number;
    const img = await cloud.waitFor("image Error", async () => {
      const i = (await cloud.api("GET", `/v1/admin/images/${id}`)).json.image;
      return i.status !== "Downloading" && i;
    }, 60_000);
    expect(img.status).toBe("Error");
    expect(img.error).toContain(`expected ${wrong}, got ${checksum}`);
    const job = (await cloud.api("GET", `/v1/core/jobs/${r.json.job_id}`)).json.job;
    expect(job).toMatchObject({ status: "failed", error: { retryable: false } });
    expect(await userImageNames()).not.toContain("Bad sum");
    expect((await cloud.api("GET", `/v1/core/images/${id}`)).status).toBe(404);
    const listed = (await cloud.api("GET", "/v1/admin/images")).json.images as { name: string; status: string }[];
    expect(listed.find((i) => i.name === "Bad sum")?.status).toBe("Error");
    expect((await cloud.api("DELETE", `/v1/admin/images/${id}`)).status).toBe(200);
    expect((await cloud.api("GET", `/v1/admin/images/${id}`)).status).toBe(404);
  }, 90_000);

  it("refuses bad registrations with a 4xx naming the problem, changing nothing", async () => {
    const good = { name: "Another", url: `${base}/disk.qcow2`, checksum, type: "qcow2" };
    const cases: [Record<string, unknown>, number, RegExp][] = [
      [{ ...good, url: "ftp://example.com/disk.qcow2" }, 400, /url must be http or https/],
      [{ ...good, url: "file:///etc/passwd" }, 400, /url must be http or https/],
      [{ ...good, url: "not a url" }, 400, /url/],
      [{ ...good, checksum: "sha256:abc" }, 400, /checksum/],
      [{ ...good, checksum: "crc32:deadbeef" }, 400, /checksum/],
      [{ ...good, type: "vmdk" }, 400, /type/],
      [{ ...good, name: "Tiny qcow2" }, 409, /already exists|Tiny qcow2/],
      [{ ...good, name: "Debian 12" }, 409, /Debian 12/],
    ];
    const before = await stateDigest(cloud);
    for (const [body, status, message] of cases) {
      const r = await cloud.api("POST", "/v1/admin/images", body);
      expect(r.status, `${JSON.stringify(body)} → ${JSON.stringify(r.json)}`).toBe(status);
      expect(errorShapeProblems(r.status, r.json)).toEqual([]);
      expect(JSON.stringify(r.json)).toMatch(message);
    }
    const userKey = await createUserKey(cloud, "img-user-2");
    const forbidden = await cloud.api("POST", "/v1/admin/images", good, userKey);
    expect(forbidden.status).toBe(403);
    expect(await stateDigest(cloud)).toBe(before);
  });
});
