// How Orbit's programs end when they cannot start. A reason they can name (a bad setting, an
// address in use, a data folder another process holds) is one line on stderr and exit code 2,
// read alike by people, scripts and systemd; anything else is a bug and keeps its stack (exit 1).
import { OrbitError } from "./errors.js";

/** Exit code of a program that could not start for a reason it names (configuration or environment). */
export const EXIT_CANNOT_START = 2;

export function exitOnStartupFailure(program: string, e: unknown): never {
  if (e instanceof OrbitError && e.code !== "internal") {
    process.stderr.write(`${program}: ${e.message}\n`);
    process.exit(EXIT_CANNOT_START);
  }
  process.stderr.write(`${program}: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exit(1);
}
