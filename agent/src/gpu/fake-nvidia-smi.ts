// Test helper: a fake nvidia-smi, a shell script answering each argument string with a snippet.
import { chmod, writeFile } from "node:fs/promises";
import { join } from "node:path";

/** Writes `<dir>/nvidia-smi`; for each argument string ("-q -x", "topo -m"...) a shell snippet to run. */
export async function fakeNvidiaSmi(dir: string, cases: Record<string, string>): Promise<string> {
  const path = join(dir, "nvidia-smi");
  const arms = Object.entries(cases).map(([args, body]) => `  "${args}") ${body} ;;`).join("\n");
  await writeFile(path, `#!/bin/sh\ncase "$*" in\n${arms}\n  *) echo "fake nvidia-smi: unexpected arguments: $*" >&2; exit 2 ;;\nesac\n`);
  await chmod(path, 0o755);
  return path;
}

/** A snippet printing a file. */
export const catFile = (path: string): string => `cat '${path}'`;
