// One long-lived `virsh event --all --loop --timestamp` process whose lines become parsed events.
// If virsh dies (daemon restart, lost connection) it is started again after a delay. Events that
// happen while it is down are lost: the agent's heartbeat (full domain list) covers that gap.
import { createInterface } from "node:readline";
import { execa, type ResultPromise } from "execa";
import { parseEventLine, type VirshEventLine } from "./domain-event.parser.js";
import type { Virsh } from "./virsh.js";

export interface DomainEventStreamOptions {
  /** Delay before restarting a dead virsh; doubles up to 10x on repeated quick deaths. Default 1000 ms. */
  restartDelayMs?: number;
  onWarning?: (message: string) => void;
}

export class DomainEventStream {
  private child: ResultPromise | undefined;
  private closed = false;
  private restartTimer: ReturnType<typeof setTimeout> | undefined;
  private failures = 0;
  private readonly listeners = new Set<(e: VirshEventLine) => void>();
  private readonly restartDelayMs: number;
  /** How many times the virsh process was (re)started; for tests and diagnostics. */
  starts = 0;

  constructor(
    private readonly virsh: Virsh,
    private readonly opts: DomainEventStreamOptions = {},
  ) {
    this.restartDelayMs = opts.restartDelayMs ?? 1000;
  }

  subscribe(listener: (e: VirshEventLine) => void): () => void {
    this.listeners.add(listener);
    if (!this.child && !this.restartTimer) this.spawn();
    return () => {
      this.listeners.delete(listener);
    };
  }

  /** The running virsh's pid (undefined while restarting). */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  private spawn(): void {
    if (this.closed) return;
    this.starts++;
    const startedAt = Date.now();
    const child = execa(this.virsh.binary, this.virsh.argv(["event", "--all", "--loop", "--timestamp"]), {
      reject: false,
      buffer: false,
      stdin: "ignore",
      env: { LC_ALL: "C" },
    });
    this.child = child;
    if (child.stdout) {
      createInterface({ input: child.stdout }).on("line", (line) => {
        const ev = parseEventLine(line);
        if (!ev) return;
        this.failures = 0;
        for (const l of this.listeners) l(ev);
      });
    }
    let stderr = "";
    child.stderr?.on("data", (d: Buffer) => {
      stderr = (stderr + d.toString()).slice(-2000);
    });
    void child.then((r) => {
      if (this.child === child) this.child = undefined;
      if (this.closed) return;
      if (Date.now() - startedAt < 5000) this.failures++;
      else this.failures = 0;
      const delay = this.restartDelayMs * Math.min(10, 2 ** Math.max(0, this.failures - 1));
      this.opts.onWarning?.(`virsh event exited (code ${r.exitCode ?? r.signal}): ${stderr.trim()}; restarting in ${delay} ms`);
      this.restartTimer = setTimeout(() => {
        this.restartTimer = undefined;
        this.spawn();
      }, delay);
    });
  }

  close(): void {
    this.closed = true;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    this.restartTimer = undefined;
    this.child?.kill("SIGTERM");
    this.child = undefined;
    this.listeners.clear();
  }
}
