// vitest globalSetup: compiles Orbit's programs once for the run (build-programs.ts)
// and tells the test workers where they are. A failed build fails the run.
import { ensurePrograms } from "./build-programs.js";
import { PROGRAMS_DIR_ENV } from "./orbit-programs.js";

export default async function setup(): Promise<void> {
  process.env[PROGRAMS_DIR_ENV] = await ensurePrograms();
}
