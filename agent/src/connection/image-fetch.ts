// Fetches an image from the manager's store (FetchImage) into a host's images dir: written to a
// temp file beside it, checked against the size and SHA-256 the manager announced, then renamed,
// so a file under the image's name is always whole.
import { createHash } from "node:crypto";
import { createWriteStream } from "node:fs";
import { rename, rm } from "node:fs/promises";
import { Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import type * as grpc from "@grpc/grpc-js";
import { HypervisorError } from "#shared/errors.js";
import type { AgentServiceClient, ImageChunk, ImageInfo } from "#shared/protocol.js";

export async function fetchImageFile(client: AgentServiceClient, md: grpc.Metadata, path: string, dest: string): Promise<ImageInfo> {
  const part = `${dest}.${process.pid}.part`;
  const hash = createHash("sha256");
  let info: ImageInfo | undefined;
  let bytes = 0;
  // The first chunk is the image's info; the rest are its bytes, hashed on the way to disk.
  const unwrap = new Transform({
    writableObjectMode: true,
    transform(m: ImageChunk, _enc, done) {
      if (m.body?.$case === "info") { info = m.body.value; done(); return; }
      if (m.body?.$case !== "data" || !info) { done(new HypervisorError(`image ${path}: the manager sent bytes before the image's info`)); return; }
      bytes += m.body.value.length;
      if (bytes > info.sizeBytes) { done(new HypervisorError(`image ${path}: the manager sent more than the ${info.sizeBytes} bytes it announced`)); return; }
      hash.update(m.body.value);
      done(null, m.body.value);
    },
  });
  try {
    await pipeline(client.fetchImage({ path }, md), unwrap, createWriteStream(part, { mode: 0o644 }));
    if (!info) throw new HypervisorError(`image ${path}: the manager sent nothing`);
    const sha256 = hash.digest("hex");
    if (bytes !== info.sizeBytes || sha256 !== info.sha256) {
      throw new HypervisorError(`image ${path}: got ${bytes} bytes with sha256 ${sha256}, the manager announced ${info.sizeBytes} with ${info.sha256}`, { retryable: true });
    }
    await rename(part, dest);
    return info;
  } catch (e) {
    if (e instanceof HypervisorError) throw e;
    const err = e as grpc.ServiceError;
    // NOT_FOUND (5): the manager has no such Ready image; anything else may pass.
    throw new HypervisorError(`image ${path} could not be fetched from the manager: ${err.details || err.message}`, { retryable: err.code !== 5 });
  } finally {
    await rm(part, { force: true });
  }
}
