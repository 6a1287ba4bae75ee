// Test helpers for GPU discovery:
//  - Orbit's own samples in ./testdata (written for these tests, in the formats the parsers read;
//    testdata/README.md says which machine each one depicts). The default tests use only these.
//  - Real outputs captured on other machines, in the team's shared folder (<shared>/fixtures/gpu).
//    They never enter the repository; gpu-discovery.captured.test.ts reads them as an extra tier
//    that skips without the folder (see test/support/shared-dir.ts).
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { sharedTier } from "../../../test/support/shared-dir.js";

const SAMPLES = fileURLToPath(new URL("./testdata/", import.meta.url));

export function gpuSamplePath(name: string): string {
  return join(SAMPLES, name);
}

export function readGpuSample(name: string): string {
  return readFileSync(gpuSamplePath(name), "utf8");
}

export interface CapturedGpuFixtures {
  path(name: string): string;
  read(name: string): string;
}

/** The captured-output tier's files, or undefined (after one line on stderr) when it is skipped. */
export function capturedGpuFixtures(): CapturedGpuFixtures | undefined {
  const { dir } = sharedTier("fixtures/gpu", "captured GPU output tests (gpu-discovery.captured.test.ts)");
  if (dir === undefined) return undefined;
  return { path: (name) => join(dir, name), read: (name) => readFileSync(join(dir, name), "utf8") };
}
