// Writes a cloud-init NoCloud seed ISO (volume label "cidata") with genisoimage.
import { mkdtemp, rename, rm, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { execa } from "execa";
import { HypervisorError } from "#shared/errors.js";
import type { SeedFiles } from "./cloud-init-seed.js";

export interface SeedIsoOptions {
  /** Default "genisoimage". */
  genisoimage?: string;
}

/** Builds the ISO next to `isoPath` and renames it into place, so a reader never sees half a file. */
export async function writeSeedIso(isoPath: string, files: SeedFiles, opts: SeedIsoOptions = {}): Promise<void> {
  const work = await mkdtemp(join(dirname(isoPath), ".seed-"));
  try {
    const names = Object.keys(files) as (keyof SeedFiles)[];
    for (const name of names) await writeFile(join(work, name), files[name] ?? "");
    const tmpIso = join(work, "seed.iso");
    const r = await execa(opts.genisoimage ?? "genisoimage", ["-quiet", "-output", tmpIso, "-volid", "cidata", "-joliet", "-rock", ...names], {
      cwd: work,
      reject: false,
    });
    if (r.exitCode !== 0) {
      throw new HypervisorError(`genisoimage failed for ${isoPath}: ${r.stderr.trim() || r.stdout.trim()}`, { code: "seed_iso" });
    }
    await rename(tmpIso, isoPath);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
