// Test helper: reads the real captured samples in <repo root>/../shared/fixtures/gpu.
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

const FIXTURES = new URL("../../../../shared/fixtures/gpu/", import.meta.url);

export function gpuFixturePath(name: string): string {
  return fileURLToPath(new URL(name, FIXTURES));
}

export function readGpuFixture(name: string): string {
  return readFileSync(gpuFixturePath(name), "utf8");
}
