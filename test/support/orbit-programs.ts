// Orbit's programs as tests start them: compiled JavaScript (build-programs.ts, run by vitest's
// globalSetup), so a test's child process starts in node alone instead of compiling hundreds of
// TypeScript modules through tsx on every start (about 4 CPU seconds and 200 MB for the manager
// on the CI machine, against 1.5 s and 140 MB compiled).
import { existsSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const ROOT = fileURLToPath(new URL("../../", import.meta.url));

/** The programs tests start, by name, and their TypeScript entry points (relative to the checkout). */
export const PROGRAM_SOURCES = {
  "orbit-manager": "manager/src/main.ts",
  "orbit-agent": "agent/src/main.ts",
  "orbit-sim": "agent/src/sim/main.ts",
  "orbit-embedded": "dev/embedded.ts",
  "orbit-agent-test-guest": "test/libvirt/orbit-agent-test-guest.ts",
  "bench-deploys-end-to-end": "bench/api/deploys-end-to-end.ts",
  "bench-failover-at-scale": "bench/ha/failover-at-scale.ts",
} as const;

export type ProgramName = keyof typeof PROGRAM_SOURCES;

/** Set by globalSetup for the test workers (and inherited by what they start): the compiled programs' folder. */
export const PROGRAMS_DIR_ENV = "ORBIT_TEST_PROGRAMS_DIR";

/**
 * The compiled file of a program. Under vitest, globalSetup built them; a test run without it
 * (no ORBIT_TEST_PROGRAMS_DIR) throws rather than quietly starting TypeScript through tsx.
 */
export function programFile(name: ProgramName, env: NodeJS.ProcessEnv = process.env): string {
  const dir = env[PROGRAMS_DIR_ENV];
  if (!dir) throw new Error(`${PROGRAMS_DIR_ENV} is not set: vitest.config.ts's globalSetup (test/support/programs-global-setup.ts) builds Orbit's programs for the tests`);
  const file = path.join(dir, `${name}.mjs`);
  if (!existsSync(file)) throw new Error(`${file} is missing: the compiled programs in ${dir} are incomplete`);
  return file;
}

/** The program whose entry point is `source` (relative to the checkout), if it is one that is compiled. */
export function programOfSource(source: string): ProgramName | undefined {
  const rel = path.relative(ROOT, path.resolve(ROOT, source));
  return (Object.keys(PROGRAM_SOURCES) as ProgramName[]).find((n) => PROGRAM_SOURCES[n] === rel);
}
