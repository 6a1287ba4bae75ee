// Orbit's programs as child processes, the way they run for users: `npm start` (embedded),
// orbit-manager and orbit-agent (compiled once per run, test/support/orbit-programs.ts), with only
// the environment the test gives them.
import type { ChildProcess } from "node:child_process";
import { type ChildHandle, spawnProgram } from "../support/processes.js";

export const PROGRAMS = {
  embedded: "dev/embedded.ts",
  manager: "manager/src/main.ts",
  agent: "agent/src/main.ts",
} as const;

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** The parent's environment without Orbit's variables, so a developer's shell cannot change the outcome. */
function cleanEnv(env: Record<string, string>): NodeJS.ProcessEnv {
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("ORBIT_") && k !== "DATABASE_URL"));
  return { ...base, ORBIT_LOG_LEVEL: "warn", ...env };
}

export class OrbitProcess {
  private readonly handle: ChildHandle;
  readonly exited: Promise<Exit>;

  constructor(program: keyof typeof PROGRAMS, env: Record<string, string>, args: string[] = []) {
    // One node process (its pid is the one a lock names), nothing in between.
    this.handle = spawnProgram(PROGRAMS[program], args, { env: cleanEnv(env), name: program });
    // Let the pipes drain before reporting what was written.
    this.exited = this.handle.exited.then((e) => new Promise((resolve) => setImmediate(() => resolve({ ...e, stdout: this.stdout, stderr: this.stderr }))));
  }

  get child(): ChildProcess {
    return this.handle.child;
  }

  get stdout(): string {
    return this.handle.stdout;
  }

  get stderr(): string {
    return this.handle.stderr;
  }

  get pid(): number {
    return this.child.pid!;
  }

  /** Resolves with the first match of `re` in stdout; rejects when the process exits first or time runs out. */
  async waitForOutput(re: RegExp, timeoutMs: number): Promise<RegExpExecArray> {
    const end = Date.now() + timeoutMs;
    let exited = false;
    void this.exited.then(() => { exited = true; });
    for (;;) {
      const m = re.exec(this.stdout);
      if (m) return m;
      if (exited) throw new Error(`process exited before printing ${re}: ${this.stderr || this.stdout}`);
      if (Date.now() > end) throw new Error(`timed out waiting for ${re}; stdout: ${this.stdout}; stderr: ${this.stderr}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** Sends `signal` and waits for the exit; SIGKILL when it does not end in time. */
  async stop(signal: NodeJS.Signals = "SIGINT", timeoutMs = 30_000): Promise<Exit> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal);
    return this.exitWithin(timeoutMs);
  }

  async exitWithin(timeoutMs: number): Promise<Exit> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        this.child.kill("SIGKILL");
        reject(new Error(`process did not exit within ${timeoutMs} ms; stdout: ${this.stdout}; stderr: ${this.stderr}`));
      }, timeoutMs);
    });
    try {
      return await Promise.race([this.exited, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }
}

/** Runs a program that is expected to end by itself (a failed start), killed after `timeoutMs`. */
export function runToExit(program: keyof typeof PROGRAMS, env: Record<string, string>, args: string[] = [], timeoutMs = 30_000): Promise<Exit> {
  return new OrbitProcess(program, env, args).exitWithin(timeoutMs);
}

/** A failed start: exit code 2 and one line on stderr, `program: ...`, without a stack trace. */
export function expectOneLineFailure(exit: Exit, program: string): string {
  const lines = exit.stderr.split("\n").filter((l) => l !== "");
  if (exit.code !== 2 || lines.length !== 1 || !lines[0]!.startsWith(`${program}: `) || /\n\s+at /.test(exit.stderr)) {
    throw new Error(`expected exit code 2 and one line "${program}: ..." on stderr, got code ${exit.code} (${exit.signal}) and stderr:\n${exit.stderr}`);
  }
  return lines[0]!;
}
