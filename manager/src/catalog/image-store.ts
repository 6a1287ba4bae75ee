// The manager's image store: `<data dir>/images`, or a temp dir removed at close when the data
// dir is ":memory:" (tests, throwaway demos keep nothing on disk).
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface ImageStore { dir: string; close(): Promise<void> }

export async function openImageStore(dataDir: string): Promise<ImageStore> {
  if (dataDir === ":memory:") {
    const dir = await mkdtemp(join(tmpdir(), "orbit-images-"));
    return { dir, close: () => rm(dir, { recursive: true, force: true }) };
  }
  const dir = join(dataDir, "images");
  await mkdir(dir, { recursive: true, mode: 0o700 });
  return { dir, close: async () => {} };
}
