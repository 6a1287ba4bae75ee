// Where the team's shared folder (captured real outputs, notes) is, for the test tiers that need
// it. It exists on the team's machines and in CI, never in a user's fresh clone, so those tiers
// skip without it — except under CI=true, where a missing folder is a broken CI and must fail.
//
//   ORBIT_SHARED_DIR=/path   use that folder (it must exist);
//   ORBIT_SHARED_DIR=none    deliberately without it: the tiers skip even under CI (.ci/run's
//                            fresh-clone run proves `npm test` passes there);
//   unset                    <repo>/../shared when it exists.
import { existsSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const REPO_ROOT = fileURLToPath(new URL("../..", import.meta.url));

export type SharedDirLookup =
  | { found: true; dir: string }
  | { found: false; deliberate: boolean; reason: string };

type Env = Record<string, string | undefined>;

const isDir = (p: string): boolean => existsSync(p) && statSync(p).isDirectory();

/** Finds the shared folder; throws only when ORBIT_SHARED_DIR names a folder that is not there. */
export function lookUpSharedDir(env: Env = process.env, repoRoot = REPO_ROOT): SharedDirLookup {
  const configured = env.ORBIT_SHARED_DIR;
  if (configured === "none") return { found: false, deliberate: true, reason: "ORBIT_SHARED_DIR=none" };
  if (configured !== undefined && configured !== "") {
    const dir = resolve(configured);
    if (!isDir(dir)) throw new Error(`ORBIT_SHARED_DIR=${configured}: no such directory`);
    return { found: true, dir };
  }
  const sibling = resolve(repoRoot, "..", "shared");
  if (isDir(sibling)) return { found: true, dir: sibling };
  return { found: false, deliberate: false, reason: `no ${sibling} and ORBIT_SHARED_DIR unset` };
}

export interface SharedTier {
  /** The tier's folder inside the shared folder; undefined when the tier is skipped. */
  dir: string | undefined;
  /** Why it is skipped ("" when it runs). */
  skipReason: string;
}

/**
 * A test tier reading `<shared>/<subdir>`. Skipped (with one line on stderr) when the folder is
 * absent; under CI=true an absent folder throws, unless ORBIT_SHARED_DIR=none says it is on purpose.
 */
export function sharedTier(subdir: string, tierName: string, env: Env = process.env, repoRoot = REPO_ROOT): SharedTier {
  const found = lookUpSharedDir(env, repoRoot);
  let reason: string;
  if (found.found) {
    const dir = join(found.dir, subdir);
    if (isDir(dir)) return { dir, skipReason: "" };
    reason = `${dir} missing`;
  } else {
    reason = found.reason;
    if (found.deliberate) return skipped(tierName, reason);
  }
  if (env.CI) {
    throw new Error(`${tierName} cannot run under CI: ${reason} (set ORBIT_SHARED_DIR, or ORBIT_SHARED_DIR=none to skip on purpose)`);
  }
  return skipped(tierName, reason);
}

function skipped(tierName: string, reason: string): SharedTier {
  console.warn(`${tierName} skipped: ${reason} (the team's shared folder, see README "Two commands")`);
  return { dir: undefined, skipReason: reason };
}
