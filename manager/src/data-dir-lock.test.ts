import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { DATA_DIR_LOCK_FILE, DataDirInUseError, lockDataDir } from "./data-dir-lock.js";

const dirs: string[] = [];
afterEach(() => { for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true }); });

function tempDir(): string {
  const d = mkdtempSync(path.join(tmpdir(), "orbit-lock-"));
  dirs.push(d);
  return d;
}

/** The pid of a process that has exited. */
function deadPid(): number {
  const r = spawnSync(process.execPath, ["-e", ""]);
  expect(r.status).toBe(0);
  return r.pid!;
}

describe("lockDataDir", () => {
  it("creates the folder and a lock naming this process; release removes it", () => {
    const dir = path.join(tempDir(), "data");
    const lock = lockDataDir(dir);
    expect(lock.file).toBe(path.join(dir, DATA_DIR_LOCK_FILE));
    expect(readFileSync(lock.file, "utf8")).toBe(`${process.pid}\n`);
    lock.release();
    expect(readdirSync(dir)).toEqual([]);
  });

  it("refuses a folder a live process holds, naming the folder and the pid, and leaves its lock alone", () => {
    const dir = tempDir();
    const holder = process.ppid;
    writeFileSync(path.join(dir, DATA_DIR_LOCK_FILE), `${holder}\n`);
    let err: unknown;
    try { lockDataDir(dir); } catch (e) { err = e; }
    expect(err).toBeInstanceOf(DataDirInUseError);
    expect((err as DataDirInUseError).holderPid).toBe(holder);
    expect((err as Error).message).toContain(`data folder ${dir} is in use by another Orbit process (pid ${holder})`);
    expect((err as Error).message).not.toContain("\n");
    expect(readFileSync(path.join(dir, DATA_DIR_LOCK_FILE), "utf8")).toBe(`${holder}\n`);
    expect(readdirSync(dir)).toEqual([DATA_DIR_LOCK_FILE]);
  });

  it.each([
    ["a process that is gone", () => `${deadPid()}\n`],
    ["this pid from an earlier life (containers reuse pids)", () => `${process.pid}\n`],
    ["nothing readable", () => "garbage"],
  ])("takes over a lock left by %s", (_, content) => {
    const dir = tempDir();
    writeFileSync(path.join(dir, DATA_DIR_LOCK_FILE), content());
    const lock = lockDataDir(dir);
    expect(readFileSync(lock.file, "utf8")).toBe(`${process.pid}\n`);
    expect(readdirSync(dir)).toEqual([DATA_DIR_LOCK_FILE]);
    lock.release();
  });

  it("release leaves a lock that another process holds now", () => {
    const dir = tempDir();
    const lock = lockDataDir(dir);
    writeFileSync(lock.file, `${process.ppid}\n`);
    lock.release();
    expect(existsSync(lock.file)).toBe(true);
  });

  it("is released when the process exits", () => {
    const dir = tempDir();
    const script = `const { lockDataDir } = await import(${JSON.stringify(new URL("./data-dir-lock.ts", import.meta.url).href)});
      lockDataDir(${JSON.stringify(dir)}); process.exit(3);`;
    const r = spawnSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], { encoding: "utf8", timeout: 30_000 });
    expect(r.stderr).toBe("");
    expect(r.status).toBe(3);
    expect(readdirSync(dir)).toEqual([]);
  });
});
