// Downloads one registered image into the manager's image store (CloudStack's secondary storage):
// streamed to a temp file beside its destination while hashing, checked against the checksum the
// admin gave, inspected (and raw converted to qcow2) with qemu-img, then renamed into place, so a
// file at the destination is always a whole, verified image.
import { createHash, type Hash } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { rename, rm, stat } from "node:fs/promises";
import { Readable, Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { ReadableStream } from "node:stream/web";
import { execa } from "execa";
import { OrbitError } from "#shared/errors.js";
import type { ImageDownloadProgress } from "../db/schema.js";
import { parseChecksum, type ImageType } from "./image-source.js";

export interface ImageDownloadRequest {
  url: string;
  /** "sha256:<hex>" (or md5/sha1/sha512). */
  checksum: string;
  type: ImageType;
  /** Final path of the image in the store; `<dest>.part` is the temp file. */
  dest: string;
  maxBytes: number;
  timeoutMs: number;
  onProgress: (p: ImageDownloadProgress) => Promise<void> | void;
  /** At most one progress report per this many ms (the last one always comes). */
  progressEveryMs?: number;
  qemuImg?: string;
  /** Aborted when the manager stops: the download ends retryable (resumed by the next manager). */
  signal?: AbortSignal;
}

export interface DownloadedImage {
  format: "qcow2" | "iso";
  sizeBytes: number;
  virtualSizeBytes: number;
  /** Hex SHA-256 of the stored file. */
  sha256: string;
}

/** A download that failed; `retryable` for network trouble and server errors (the job tries again). */
export class ImageDownloadError extends OrbitError {
  constructor(message: string, opts: { retryable?: boolean; details?: Record<string, unknown> } = {}) {
    super("invalid_argument", message, { retryable: opts.retryable ?? false, details: opts.details ?? {} });
  }
}

export async function downloadImage(req: ImageDownloadRequest): Promise<DownloadedImage> {
  const part = `${req.dest}.part`;
  const converted = `${req.dest}.converting`;
  try {
    await fetchVerified(req, part);
    const info = await qemuImgInfo(req.qemuImg ?? "qemu-img", part);
    let format: DownloadedImage["format"];
    if (req.type === "iso") {
      if (info.format !== "raw") throw new ImageDownloadError(`an ISO image must be raw bytes; qemu-img reads this file as ${info.format}`);
      format = "iso";
    } else if (info.format !== req.type) {
      // Any bytes read as raw: the declared type is what tells a raw disk from a wrong file.
      throw new ImageDownloadError(`the image was registered as ${req.type} but qemu-img reads it as ${info.format}`);
    } else if (info.format === "qcow2") {
      format = "qcow2";
    } else if (info.format === "raw") {
      // Hosts back each VM's root disk with a qcow2 overlay on the image: stored as qcow2.
      await qemuImg(req.qemuImg ?? "qemu-img", ["convert", "-O", "qcow2", part, converted]);
      await rename(converted, part);
      format = "qcow2";
    } else {
      throw new ImageDownloadError(`unsupported disk image format "${info.format}"`);
    }
    const sha256 = await fileSha256(part);
    await rename(part, req.dest);
    return { format, sizeBytes: (await stat(req.dest)).size, virtualSizeBytes: info.virtualSize, sha256 };
  } finally {
    await rm(part, { force: true });
    await rm(converted, { force: true });
  }
}

async function fetchVerified(req: ImageDownloadRequest, part: string): Promise<void> {
  const { algorithm, hex } = parseChecksum(req.checksum);
  let res: Response;
  const signal = req.signal ? AbortSignal.any([AbortSignal.timeout(req.timeoutMs), req.signal]) : AbortSignal.timeout(req.timeoutMs);
  try {
    res = await fetch(req.url, { signal, redirect: "follow" });
  } catch (e) {
    throw fetchFailure(e, req);
  }
  if (!res.ok || !res.body) {
    await res.body?.cancel();
    throw new ImageDownloadError(`GET ${req.url} answered HTTP ${res.status}`, { retryable: res.status >= 500 || res.status === 429 });
  }
  const lengthHeader = res.headers.get("content-length");
  const total = lengthHeader !== null && /^\d+$/.test(lengthHeader) ? Number(lengthHeader) : null;
  if (total !== null && total > req.maxBytes) {
    await res.body.cancel();
    throw tooBig(req.maxBytes, total);
  }

  const hash: Hash = createHash(algorithm);
  const started = Date.now();
  const every = req.progressEveryMs ?? 500;
  let bytes = 0;
  let lastReport = 0;
  const progress = (): ImageDownloadProgress => {
    const seconds = (Date.now() - started) / 1000;
    return {
      bytes, total_bytes: total,
      percent: total ? Math.min(100, Math.floor((bytes / total) * 100)) : null,
      rate_bytes_per_s: seconds > 0 ? Math.round(bytes / seconds) : 0,
    };
  };
  const meter = new Transform({
    transform(chunk: Buffer, _enc, done) {
      bytes += chunk.length;
      if (bytes > req.maxBytes) { done(tooBig(req.maxBytes)); return; }
      hash.update(chunk);
      const now = Date.now();
      if (now - lastReport < every) { done(null, chunk); return; }
      lastReport = now;
      // The report (a database write) holds the stream back: progress never races the download.
      Promise.resolve(req.onProgress(progress())).then(() => done(null, chunk), (e: unknown) => done(e as Error));
    },
  });
  try {
    await pipeline(Readable.fromWeb(res.body as ReadableStream<Uint8Array>), meter, createWriteStream(part));
  } catch (e) {
    if (e instanceof OrbitError) throw e;
    throw fetchFailure(e, req);
  }
  await req.onProgress(progress());
  const actual = hash.digest("hex");
  if (actual !== hex) {
    throw new ImageDownloadError(`checksum mismatch: expected ${algorithm}:${hex}, got ${algorithm}:${actual}`, {
      details: { expected: `${algorithm}:${hex}`, actual: `${algorithm}:${actual}` },
    });
  }
}

async function fileSha256(path: string): Promise<string> {
  const hash = createHash("sha256");
  await pipeline(createReadStream(path), hash);
  return hash.digest("hex");
}

function tooBig(max: number, total?: number): ImageDownloadError {
  return new ImageDownloadError(`the image is larger than image.download.max.bytes (${max} bytes)${total !== undefined ? `: Content-Length ${total}` : ""}`);
}

function fetchFailure(e: unknown, req: ImageDownloadRequest): ImageDownloadError {
  const err = e as Error & { cause?: { message?: string } };
  if (req.signal?.aborted) return new ImageDownloadError("the download was interrupted (the manager is stopping); it starts again", { retryable: true });
  if (err.name === "TimeoutError" || err.name === "AbortError") {
    return new ImageDownloadError(`the download took longer than image.download.timeout.ms (${req.timeoutMs} ms)`);
  }
  // Connection refused or reset: maybe passing, so the job tries again.
  return new ImageDownloadError(`GET ${req.url} failed: ${err.cause?.message ?? err.message}`, { retryable: true });
}

interface QemuImgInfo { format: string; virtualSize: number }

async function qemuImgInfo(bin: string, file: string): Promise<QemuImgInfo> {
  const out = await qemuImg(bin, ["info", "--output=json", file]);
  const info = JSON.parse(out) as { format?: unknown; "virtual-size"?: unknown };
  if (typeof info.format !== "string" || typeof info["virtual-size"] !== "number") {
    throw new ImageDownloadError("qemu-img info gave no format or virtual size for the image");
  }
  return { format: info.format, virtualSize: info["virtual-size"] };
}

async function qemuImg(bin: string, args: string[]): Promise<string> {
  try {
    const r = await execa(bin, args, { timeout: 600_000 });
    return r.stdout;
  } catch (e) {
    const err = e as { code?: string; stderr?: string; shortMessage?: string };
    if (err.code === "ENOENT") throw new ImageDownloadError(`qemu-img is not installed on the manager (${bin}: not found; install qemu-utils)`);
    throw new ImageDownloadError(`qemu-img ${args[0]} could not read the image: ${(err.stderr || err.shortMessage || String(e)).trim()}`);
  }
}
