// image.download: fills a registered image from its URL (catalog/image-download.ts), reporting
// progress on the image (download_progress) and the job (percent). Run again from the start after
// a manager restart: the temp file is rewritten, and only a verified file is renamed into place
// and marked Ready. A download that fails for good leaves the image in Error (onImageJobFailed).
import { join } from "node:path";
import { eq } from "drizzle-orm";
import { OrbitError } from "#shared/errors.js";
import type { Db } from "../db/database.js";
import { images } from "../db/schema.js";
import { downloadImage } from "../catalog/image-download.js";
import { IMAGE_TYPES, type ImageType } from "../catalog/image-source.js";
import type { JobHandler, JobRunnerOptions } from "./job-runner.js";

export interface ImageDownloadJobOptions {
  db: Db;
  storeDir: string;
  maxBytes: () => number;
  timeoutMs: () => number;
  qemuImg?: string;
}

export function imageDownloadJob(o: ImageDownloadJobOptions): JobHandler {
  return async ({ job, progress, log, signal }) => {
    const imageId = job.input.image_id;
    if (imageId === undefined) throw new OrbitError("internal", "image.download job without an image");
    const [image] = await o.db.select().from(images).where(eq(images.id, imageId));
    if (!image) throw new OrbitError("internal", `image ${imageId} vanished`);
    if (image.status === "Ready") return { image_id: image.id, format: image.format, size_bytes: image.sizeBytes ?? 0 };
    const type = image.format as ImageType;
    if (!IMAGE_TYPES.includes(type)) throw new OrbitError("internal", `image ${imageId} has no downloadable type (${image.format})`);
    await o.db.update(images).set({ status: "Downloading", error: "", downloadProgress: null }).where(eq(images.id, imageId));
    const done = await downloadImage({
      url: image.sourceUrl, checksum: image.checksum, type, dest: join(o.storeDir, image.path),
      maxBytes: o.maxBytes(), timeoutMs: o.timeoutMs(), qemuImg: o.qemuImg, signal,
      onProgress: async (p) => {
        await o.db.update(images).set({ downloadProgress: p }).where(eq(images.id, imageId));
        if (p.percent !== null) await progress(p.percent);
      },
    });
    await o.db.update(images).set({
      status: "Ready", format: done.format, sizeBytes: done.sizeBytes, virtualSizeBytes: done.virtualSizeBytes, storedSha256: done.sha256,
      sizeGib: Math.ceil(done.virtualSizeBytes / 2 ** 30),
    }).where(eq(images.id, imageId));
    log.info({ imageId, format: done.format, sizeBytes: done.sizeBytes }, "image downloaded");
    return { image_id: imageId, format: done.format, size_bytes: done.sizeBytes };
  };
}

/** The runner's `onFailed` part for image jobs: the image goes to Error with the job's message. */
export function onImageJobFailed(db: Db): NonNullable<JobRunnerOptions["onFailed"]> {
  return async (job, error) => {
    if (job.kind !== "image.download" || job.input.image_id === undefined) return;
    await db.update(images).set({ status: "Error", error: error.message }).where(eq(images.id, job.input.image_id));
  };
}
