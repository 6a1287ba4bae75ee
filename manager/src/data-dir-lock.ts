// One process per data folder: two managers on the same PGlite folder corrupt it (PGlite takes
// no lock of its own), and two simulated fleets would overwrite each other's hosts. The lock is a
// pid file that appears whole (hard link of a written temporary file, which fails if it exists);
// one left by a process that is gone is taken over.
import { linkSync, mkdirSync, readFileSync, renameSync, unlinkSync, writeFileSync } from "node:fs";
import path from "node:path";
import { ConflictError } from "#shared/errors.js";

export const DATA_DIR_LOCK_FILE = "orbit.lock";

export class DataDirInUseError extends ConflictError {
  readonly holderPid: number;
  constructor(dir: string, holderPid: number, lockFile: string) {
    super(
      `data folder ${dir} is in use by another Orbit process (pid ${holderPid}); stop it first, or remove ${lockFile} if pid ${holderPid} is not Orbit`,
      undefined, { dataDir: dir, holderPid },
    );
    this.holderPid = holderPid;
  }
}

export interface DataDirLock {
  file: string;
  /** Removes the lock (also done when the process exits). */
  release(): void;
}

function readPid(file: string): number | undefined | "gone" {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return "gone";
    throw e;
  }
  const pid = Number(text.trim());
  return Number.isInteger(pid) && pid > 0 ? pid : undefined;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    // EPERM: it exists, under another user.
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Locks `dir` (created if needed) for this process, or throws DataDirInUseError naming the holder. */
export function lockDataDir(dataDir: string): DataDirLock {
  const dir = path.resolve(dataDir);
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, DATA_DIR_LOCK_FILE);
  const mine = `${process.pid}\n`;
  for (let attempt = 0; attempt < 5; attempt++) {
    const tmp = `${file}.${process.pid}.tmp`;
    writeFileSync(tmp, mine);
    try {
      linkSync(tmp, file);
      const release = () => {
        try {
          if (readFileSync(file, "utf8") === mine) unlinkSync(file);
        } catch { /* already gone */ }
      };
      process.once("exit", release);
      return { file, release: () => { process.removeListener("exit", release); release(); } };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
    } finally {
      unlinkSync(tmp);
    }
    const holder = readPid(file);
    if (holder === "gone") continue;
    // Our own pid can only be a previous life's (a container restarted with the same pids).
    if (holder !== undefined && holder !== process.pid && isAlive(holder)) throw new DataDirInUseError(dir, holder, file);
    // Stale: move it aside (atomic), then check what was moved really was the stale one.
    const aside = `${file}.stale.${process.pid}`;
    try {
      renameSync(file, aside);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") continue;
      throw e;
    }
    const moved = readPid(aside);
    if (typeof moved === "number" && moved !== holder && moved !== process.pid && isAlive(moved)) {
      // Another starter took the stale lock over between our read and our rename: give it back.
      try { linkSync(aside, file); } catch { /* a third one holds it now */ }
      unlinkSync(aside);
      throw new DataDirInUseError(dir, moved, file);
    }
    unlinkSync(aside);
  }
  throw new ConflictError(`cannot lock data folder ${dir}: ${file} keeps changing (several Orbit processes starting at once?)`);
}
