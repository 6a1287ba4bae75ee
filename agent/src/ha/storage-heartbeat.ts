// The storage heartbeat: this host writes `<dir>/<host_uuid>` (a shared directory every host of
// its cluster mounts) with the time, and its neighbours read how old the file is when the manager
// asks them to probe it. A host that can still write it is alive as far as its storage goes,
// which is what a VM restarted elsewhere would fight over.
//
// Every file operation is bounded: an NFS server that stops answering makes writes (and reads)
// hang forever instead of failing, and a hang must count as a failure. A write that hung is never
// issued again on top of itself: each hung call holds one of libuv's four threadpool threads, and
// piling them up would stall every other file operation (and DNS) of the agent.
import { open, readFile, rename, stat } from "node:fs/promises";
import path from "node:path";

/** The file operations the heartbeat needs (tests pass failing or hanging fakes). */
export interface HeartbeatFs {
  /** Creates or truncates `file`, writes `data` and fsyncs it before closing. */
  writeSynced(file: string, data: string): Promise<void>;
  rename(from: string, to: string): Promise<void>;
  readFile(file: string): Promise<string>;
  mtimeMs(file: string): Promise<number>;
}

export const nodeHeartbeatFs: HeartbeatFs = {
  async writeSynced(file, data) {
    const fh = await open(file, "w", 0o644);
    try {
      await fh.writeFile(data);
      await fh.sync();
    } finally {
      await fh.close();
    }
  },
  rename: (from, to) => rename(from, to),
  readFile: (file) => readFile(file, "utf8"),
  mtimeMs: async (file) => (await stat(file)).mtimeMs,
};

/** What a heartbeat file holds: who wrote it and when (the writer's clock). */
export interface HeartbeatRecord {
  host_uuid: string;
  written_at_ms: number;
}

export function heartbeatFile(dir: string, hostUuid: string): string {
  return path.join(dir, hostUuid.toLowerCase());
}

export class HeartbeatTimeoutError extends Error {}

/** `p`, or a HeartbeatTimeoutError after `ms` (p keeps running: Node cannot cancel a file call). */
export function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new HeartbeatTimeoutError(`${what} did not finish within ${ms} ms`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

export type HeartbeatWrite = { ok: true; atMs: number; tookMs: number } | { ok: false; atMs: number; tookMs: number; error: string };

export interface StorageHeartbeatWriterOptions {
  dir: string;
  /** This host's UUID as the manager knows it ("" until known: the write then fails). */
  hostUuid: () => string;
  /** A write (temp file, fsync, rename) taking longer than this failed. */
  timeoutMs: number;
  fs?: HeartbeatFs;
  now?: () => number;
}

/** Writes this host's heartbeat file atomically: a temp file, fsynced, renamed over the old one. */
export class StorageHeartbeatWriter {
  private readonly fs: HeartbeatFs;
  private readonly now: () => number;
  /** The write still running (hung past its timeout), and since when. */
  private inflight: { since: number; done: Promise<void> } | undefined;
  timeoutMs: number;

  constructor(private readonly o: StorageHeartbeatWriterOptions) {
    this.fs = o.fs ?? nodeHeartbeatFs;
    this.now = o.now ?? Date.now;
    this.timeoutMs = o.timeoutMs;
  }

  get dir(): string {
    return this.o.dir;
  }

  /** False until this host's UUID is known (a first start before it has registered): nothing to write then. */
  get knowsHost(): boolean {
    return this.o.hostUuid() !== "";
  }

  get file(): string {
    return heartbeatFile(this.o.dir, this.o.hostUuid() || "(unknown host uuid)");
  }

  async write(): Promise<HeartbeatWrite> {
    const atMs = this.now();
    if (this.inflight) {
      return { ok: false, atMs, tookMs: 0, error: `the write started ${atMs - this.inflight.since} ms ago has not returned (storage hung?)` };
    }
    const hostUuid = this.o.hostUuid().toLowerCase();
    if (!hostUuid) return { ok: false, atMs, tookMs: 0, error: "this host's UUID is not known yet" };
    const record: HeartbeatRecord = { host_uuid: hostUuid, written_at_ms: atMs };
    const file = heartbeatFile(this.o.dir, hostUuid);
    const tmp = `${file}.tmp`;
    // The directory is never created: a missing one is an unmounted share, and a heartbeat written
    // to the local disk under its mount point would tell no neighbour anything.
    const done = (async () => {
      await this.fs.writeSynced(tmp, `${JSON.stringify(record)}\n`);
      await this.fs.rename(tmp, file);
    })();
    const inflight = { since: atMs, done };
    this.inflight = inflight;
    void done.catch(() => undefined).finally(() => { if (this.inflight === inflight) this.inflight = undefined; });
    try {
      await withTimeout(done, this.timeoutMs, `writing ${file}`);
      return { ok: true, atMs, tookMs: this.now() - atMs };
    } catch (e) {
      return { ok: false, atMs, tookMs: this.now() - atMs, error: (e as Error).message };
    }
  }
}

/** What a neighbour sees of a host's heartbeat file. */
export interface HeartbeatSeen {
  seen: boolean;
  /** -1 when not seen. */
  ageMs: number;
  detail: string;
}

/**
 * How old `hostUuid`'s heartbeat in `dir` is, by this host's clock. The younger of two ages is
 * taken: now minus the time written in it, and now minus the file's mtime (set by the file
 * server's or the writer's clock). Fresh evidence only ever makes the manager wait (Alert, no
 * restart), so a clock skew between hosts cannot make a live host look dead through one of them.
 */
export async function readStorageHeartbeat(
  o: { dir: string; hostUuid: string; timeoutMs: number; fs?: HeartbeatFs; now?: () => number },
): Promise<HeartbeatSeen> {
  const fs = o.fs ?? nodeHeartbeatFs;
  const now = o.now ?? Date.now;
  const file = heartbeatFile(o.dir, o.hostUuid);
  let mtime: number;
  let text: string;
  try {
    [mtime, text] = await withTimeout(Promise.all([fs.mtimeMs(file), fs.readFile(file)]), o.timeoutMs, `reading ${file}`);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (err.code === "ENOENT") return { seen: false, ageMs: -1, detail: `no heartbeat file ${file}` };
    return { seen: false, ageMs: -1, detail: `heartbeat file ${file} could not be read: ${err.message}` };
  }
  const at = now();
  const byMtime = Math.max(0, Math.round(at - mtime));
  let written: number | undefined;
  try {
    const r = JSON.parse(text) as Partial<HeartbeatRecord>;
    if (typeof r.written_at_ms === "number" && Number.isFinite(r.written_at_ms)) written = r.written_at_ms;
  } catch { /* a file cut short: its mtime still says when it was last written */ }
  if (written === undefined) return { seen: true, ageMs: byMtime, detail: `heartbeat file ${file} holds no time; aged by its mtime (${byMtime} ms)` };
  const byContent = Math.max(0, at - written);
  const ageMs = Math.min(byContent, byMtime);
  return { seen: true, ageMs, detail: `heartbeat ${ageMs} ms old (written at ${written}: ${byContent} ms; mtime: ${byMtime} ms)` };
}
