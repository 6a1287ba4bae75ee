// Orbit's programs as child processes, for the tests and the benchmarks: one way to start them
// (compiled by globalSetup under vitest, through tsx for a benchmark run by hand; optionally in a
// network namespace), one handle on a running child (its output, its JSON lines, its exit), and
// bounded waits. The fault, e2e, real-libvirt and bench helpers build on this.
import { spawn, type ChildProcess } from "node:child_process";
import { createServer } from "node:net";
import path from "node:path";
import { PROGRAMS_DIR_ENV, ROOT, programFile, programOfSource } from "./orbit-programs.js";

export { ROOT };

/** A TCP port the OS had free a moment ago (a manager keeps one across its restarts). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/** Polls `fn` until it returns something truthy; throws with the last answer or error after `timeoutMs`. */
export async function waitFor<T>(what: string, fn: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 20_000, everyMs = 100): Promise<T> {
  const end = Date.now() + timeoutMs;
  let last: unknown;
  let lastError: unknown;
  while (Date.now() < end) {
    try {
      last = await fn();
      if (last) return last as T;
    } catch (e) {
      lastError = e;
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
  const why = lastError ? ` (last error: ${(lastError as Error).message})` : ` (last: ${JSON.stringify(last)})`;
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${why}`);
}

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** A child process with its output kept (the tail of it when `maxOutput` is set) and its stdout lines observable. */
export class ChildHandle {
  stdout = "";
  stderr = "";
  private out = "";
  private lineHandlers: ((line: string) => void)[] = [];
  readonly exited: Promise<Exit>;
  private done: Exit | undefined;

  constructor(readonly name: string, readonly child: ChildProcess, private readonly maxOutput = Infinity) {
    let partial = "";
    child.stdout?.on("data", (d: Buffer) => {
      const s = d.toString();
      this.keep("stdout", s);
      partial += s;
      let i;
      while ((i = partial.indexOf("\n")) >= 0) {
        const line = partial.slice(0, i);
        partial = partial.slice(i + 1);
        for (const h of this.lineHandlers) h(line);
      }
    });
    child.stderr?.on("data", (d: Buffer) => this.keep("stderr", d.toString()));
    this.exited = new Promise((resolve) => {
      child.once("exit", (code, signal) => {
        this.done = { code, signal };
        resolve(this.done);
      });
    });
  }

  private keep(stream: "stdout" | "stderr", s: string): void {
    const cap = (t: string) => (t.length > this.maxOutput ? t.slice(-this.maxOutput) : t);
    this[stream] = cap(this[stream] + s);
    this.out = cap(this.out + s);
  }

  get pid(): number {
    return this.child.pid!;
  }

  /** Everything the process printed so far (stdout and stderr, interleaved). */
  output(): string {
    return this.out;
  }

  /** The process's JSON log lines (pino), parsed; other lines are skipped. */
  logs(): Record<string, any>[] {
    const lines: Record<string, any>[] = [];
    for (const l of this.out.split("\n")) {
      if (!l.startsWith("{")) continue;
      try {
        lines.push(JSON.parse(l) as Record<string, any>);
      } catch { /* a line cut by the kill */ }
    }
    return lines;
  }

  onLine(h: (line: string) => void): void {
    this.lineHandlers.push(h);
  }

  /** The next JSON line of stdout whose "event" is `event` (any JSON line when undefined); rejects on exit or after `timeoutMs`. */
  next<T = Record<string, any>>(event: string | undefined, timeoutMs: number): Promise<T> {
    return new Promise((resolve, reject) => {
      const what = event ?? "output";
      const t = setTimeout(() => reject(new Error(`${this.name}: no ${what} within ${timeoutMs} ms; stderr: ${this.stderr.slice(-2000)}`)), timeoutMs);
      void this.exited.then((e) => { clearTimeout(t); reject(new Error(`${this.name} exited (${JSON.stringify(e)}) before ${what}; stderr: ${this.stderr.slice(-2000)}`)); });
      this.onLine((line) => {
        try {
          const j = JSON.parse(line);
          if (event === undefined || j.event === event) { clearTimeout(t); resolve(j); }
        } catch { /* not JSON */ }
      });
    });
  }

  /** Undefined while the process runs. */
  exit(): Exit | undefined {
    return this.done;
  }

  kill(signal: NodeJS.Signals = "SIGKILL"): void {
    if (!this.done) this.child.kill(signal);
  }

  /** Sends the signal and waits for the exit (SIGKILL after the grace period). */
  async stop(signal: NodeJS.Signals = "SIGTERM", graceMs = 10_000): Promise<Exit> {
    if (this.done) return this.done;
    this.child.kill(signal);
    const timer = setTimeout(() => this.child.kill("SIGKILL"), graceMs);
    try {
      return await this.exited;
    } finally {
      clearTimeout(timer);
    }
  }
}

export interface ProgramOptions {
  /** Node's own flags (before the script). */
  nodeArgs?: string[];
  /** Run inside this network namespace (`ip netns exec` execs node: the child's pid is node's). */
  netns?: string;
  /** Directories bind-mounted (source on target) in a mount namespace of the child's own (`unshare -m`). */
  binds?: readonly { source: string; target: string }[];
}

/**
 * The command that runs the TypeScript entry point `source` (relative to the checkout). Under
 * vitest (or a child of it: ORBIT_TEST_PROGRAMS_DIR set) it is the compiled program, and a
 * source that is not compiled is an error, never a quiet tsx start; a benchmark run by hand
 * (neither set) runs the source through tsx.
 */
export function programCommand(source: string, args: string[], o: ProgramOptions = {}): { file: string; argv: string[] } {
  const name = programOfSource(source);
  const underTests = process.env[PROGRAMS_DIR_ENV] !== undefined || process.env.VITEST !== undefined;
  let script: string[];
  if (underTests) {
    if (!name) throw new Error(`${source} is not among the compiled programs: add it to PROGRAM_SOURCES in test/support/orbit-programs.ts`);
    script = [...(process.env.ORBIT_TEST_SOURCE_MAPS ? ["--enable-source-maps"] : []), programFile(name)];
  } else {
    script = ["--import", "tsx", path.resolve(ROOT, source)];
  }
  const node = [process.execPath, ...(o.nodeArgs ?? []), ...script, ...args];
  // unshare and bash exec in turn (no fork): the child's pid stays node's.
  const binds = o.binds ?? [];
  const wrapped = binds.length === 0 ? node : [
    "unshare", "-m", "--propagation", "private", "bash", "-c",
    [...binds.map((b) => `mount --bind '${b.source}' '${b.target}'`), 'exec "$0" "$@"'].join(" && "), ...node,
  ];
  return o.netns ? { file: "ip", argv: ["netns", "exec", o.netns, ...wrapped] } : { file: wrapped[0]!, argv: wrapped.slice(1) };
}

export interface SpawnProgramOptions extends ProgramOptions {
  /** The child's whole environment (the caller decides what to inherit). */
  env: NodeJS.ProcessEnv;
  /** The handle's name in messages; the source's file name when absent. */
  name?: string;
  /** Keep only this many characters of output (a long benchmark's logs must not grow without bound). */
  maxOutput?: number;
}

/** Starts `source` (see programCommand) in the checkout, stdin closed, output piped into the handle. */
export function spawnProgram(source: string, args: string[], o: SpawnProgramOptions): ChildHandle {
  const { file, argv } = programCommand(source, args, o);
  // The programs directory travels with the child, so it can start programs of its own (a benchmark starts a manager).
  const env = process.env[PROGRAMS_DIR_ENV] && !o.env[PROGRAMS_DIR_ENV] ? { ...o.env, [PROGRAMS_DIR_ENV]: process.env[PROGRAMS_DIR_ENV] } : o.env;
  const child = spawn(file, argv, { cwd: ROOT, env, stdio: ["ignore", "pipe", "pipe"] });
  return new ChildHandle(o.name ?? path.basename(source), child, o.maxOutput);
}
