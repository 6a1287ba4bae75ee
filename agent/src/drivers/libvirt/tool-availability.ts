// Which external programs this driver needs are on PATH (tests decide to skip or fail with it).
import { accessSync, constants } from "node:fs";
import { delimiter, join } from "node:path";

export function findOnPath(program: string): string | undefined {
  const dirs = (process.env.PATH ?? "").split(delimiter).concat(["/usr/sbin", "/sbin"]);
  for (const dir of dirs) {
    if (!dir) continue;
    const candidate = join(dir, program);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

export function toolMissing(program: string): boolean {
  return findOnPath(program) === undefined;
}

/** The programs among `programs` that are not installed. */
export function missingTools(programs: readonly string[]): string[] {
  return programs.filter(toolMissing);
}
