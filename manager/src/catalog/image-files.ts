// Registered images' files in the manager's store, as hosts fetch them (FetchImage): only Ready
// images, found by the file name a VM spec gives hosts (`image.path`).
import { createReadStream, type ReadStream } from "node:fs";
import { join } from "node:path";
import { and, eq, ne } from "drizzle-orm";
import type { Db } from "../db/database.js";
import { images } from "../db/schema.js";

export interface ImageFile { sizeBytes: number; sha256: string; format: string; stream: ReadStream }

export interface ImageFiles {
  open(path: string): Promise<ImageFile | undefined>;
}

const CHUNK_BYTES = 1024 * 1024;

export class StoredImageFiles implements ImageFiles {
  constructor(private readonly db: Db, private readonly storeDir: string) {}

  async open(path: string): Promise<ImageFile | undefined> {
    // Paths are "image-<id>.<ext>" written by Orbit: anything else (../, /) names no stored image.
    if (!/^image-[0-9]+\.(qcow2|iso)$/.test(path)) return undefined;
    const [image] = await this.db.select().from(images)
      .where(and(eq(images.path, path), eq(images.status, "Ready"), ne(images.sourceUrl, "")));
    if (!image || image.sizeBytes === null) return undefined;
    return {
      sizeBytes: image.sizeBytes, sha256: image.storedSha256, format: image.format,
      stream: createReadStream(join(this.storeDir, path), { highWaterMark: CHUNK_BYTES }),
    };
  }
}
