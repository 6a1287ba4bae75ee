// The agents connected to this manager: one stream per host, commands sent on it and their
// results correlated by command id.
import { randomUUID } from "node:crypto";
import { AgentUnavailableError, DeadlineExceededError } from "#shared/errors.js";
import type { Command, CommandResult, ManagerMessage } from "#shared/protocol.js";

export interface SessionSink {
  write(msg: ManagerMessage): void;
  /** Ends the stream (a newer session replaced this one, or the manager stops). */
  end(): void;
  /** Bytes written and not yet sent to the agent (unknown: 0). */
  buffered?(): number;
}

interface Pending {
  resolve: (r: CommandResult) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
  promise: Promise<CommandResult>;
}

class Session {
  readonly id = randomUUID();
  readonly pending = new Map<string, Pending>();
  constructor(readonly hostId: number, readonly sink: SessionSink) {}
}

interface Waiter {
  resolve: () => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
}

/** Told when a dispatched command settles (monitoring/manager-metrics.ts). */
export interface CommandObserver {
  commandSettled(kind: string, outcome: "ok" | "error" | "timeout" | "unavailable", seconds: number): void;
}

/**
 * Commands a host may have sent and unanswered at once, and bytes waiting to be written to its
 * stream: past either, dispatch refuses (retryable) instead of queueing without bound.
 */
export const MAX_COMMANDS_IN_FLIGHT_PER_HOST = 1000;
export const MAX_BUFFERED_BYTES_PER_HOST = 64 * 1024 * 1024;

export class AgentSessions {
  constructor(
    private readonly observer?: CommandObserver,
    private readonly limits: { commandsInFlight: number; bufferedBytes: number } = {
      commandsInFlight: MAX_COMMANDS_IN_FLIGHT_PER_HOST, bufferedBytes: MAX_BUFFERED_BYTES_PER_HOST,
    },
  ) {}

  private readonly byHost = new Map<number, Session>();
  /** Commands waiting for a host's agent to (re)connect. */
  private readonly waiters = new Map<number, Set<Waiter>>();

  /** Registers a stream for a host, replacing (and ending) an older one. Returns the session id. */
  open(hostId: number, sink: SessionSink): string {
    const old = this.byHost.get(hostId);
    if (old) this.close(hostId, old.id, "replaced by a newer connection");
    const s = new Session(hostId, sink);
    this.byHost.set(hostId, s);
    const waiting = this.waiters.get(hostId);
    this.waiters.delete(hostId);
    for (const w of waiting ?? []) {
      clearTimeout(w.timer);
      w.resolve();
    }
    return s.id;
  }

  /**
   * Resolves when the host has a session (at once if it has one); rejects with a retryable
   * AgentUnavailableError after timeoutMs, or when the manager stops.
   */
  waitForSession(hostId: number, timeoutMs: number, why = `agent of host ${hostId} did not connect within ${timeoutMs} ms`): Promise<void> {
    if (this.byHost.has(hostId)) return Promise.resolve();
    if (timeoutMs <= 0) return Promise.reject(new AgentUnavailableError(String(hostId), why));
    return new Promise((resolve, reject) => {
      let set = this.waiters.get(hostId);
      if (!set) this.waiters.set(hostId, (set = new Set()));
      const w: Waiter = {
        resolve, reject,
        timer: setTimeout(() => {
          set.delete(w);
          if (set.size === 0 && this.waiters.get(hostId) === set) this.waiters.delete(hostId);
          reject(new AgentUnavailableError(String(hostId), why));
        }, timeoutMs),
      };
      set.add(w);
    });
  }

  /** Closes the session if it is still the current one; pending commands fail as retryable. */
  close(hostId: number, sessionId: string, why: string): boolean {
    const s = this.byHost.get(hostId);
    if (!s || s.id !== sessionId) return false;
    this.byHost.delete(hostId);
    for (const [id, p] of s.pending) {
      clearTimeout(p.timer);
      p.reject(new AgentUnavailableError(String(hostId), `stream of host ${hostId} closed (${why}) before command ${id} was answered`));
    }
    s.pending.clear();
    try { s.sink.end(); } catch { /* already ended */ }
    return true;
  }

  /** Drops a host's current stream (the agent reconnects); false when it has none. */
  disconnect(hostId: number, why: string): boolean {
    const s = this.byHost.get(hostId);
    return s ? this.close(hostId, s.id, why) : false;
  }

  isConnected(hostId: number): boolean {
    return this.byHost.has(hostId);
  }

  connectedHostIds(): number[] {
    return [...this.byHost.keys()];
  }

  /** Bytes waiting to go to the host's agent (0 without a stream). */
  bufferedBytes(hostId: number): number {
    return this.byHost.get(hostId)?.sink.buffered?.() ?? 0;
  }

  send(hostId: number, msg: ManagerMessage): void {
    this.byHost.get(hostId)?.sink.write(msg);
  }

  /** Sends the message to every connected agent (e.g. changed settings). */
  broadcast(msg: ManagerMessage): void {
    for (const hostId of this.byHost.keys()) this.send(hostId, msg);
  }

  /** Sends a command and waits for its result. Re-sending the same command id is safe: the agent dedupes. */
  dispatch(hostId: number, command: Command, timeoutMs: number): Promise<CommandResult> {
    const s = this.byHost.get(hostId);
    if (!s) return Promise.reject(new AgentUnavailableError(String(hostId)));
    // The same command already waiting on this stream: wait with it instead of sending it again.
    const waiting = s.pending.get(command.commandId);
    if (waiting) return waiting.promise;
    const full = this.full(s);
    if (full) return Promise.reject(new AgentUnavailableError(String(hostId), full));
    let entry!: Pending;
    const promise = new Promise<CommandResult>((resolve, reject) => {
      const timer = setTimeout(() => {
        if (s.pending.get(command.commandId) === entry) s.pending.delete(command.commandId);
        reject(new DeadlineExceededError(`host ${hostId} did not answer command ${command.commandId} within ${timeoutMs} ms`));
      }, timeoutMs);
      entry = { resolve, reject, timer, promise: undefined as unknown as Promise<CommandResult> };
      s.pending.set(command.commandId, entry);
      try {
        s.sink.write({ body: { $case: "command", value: command } });
      } catch (e) {
        clearTimeout(timer);
        s.pending.delete(command.commandId);
        reject(new AgentUnavailableError(String(hostId), `could not write to host ${hostId}: ${(e as Error).message}`));
      }
    });
    entry.promise = promise;
    const observer = this.observer;
    if (observer) {
      const kind = command.body?.$case ?? "unknown";
      const started = performance.now();
      const settled = (outcome: Parameters<CommandObserver["commandSettled"]>[1]) => observer.commandSettled(kind, outcome, (performance.now() - started) / 1000);
      promise.then((r) => settled(r.ok ? "ok" : "error"), (e: unknown) => settled(e instanceof DeadlineExceededError ? "timeout" : "unavailable"));
    }
    return promise;
  }

  /** Why the host's outbound queue takes no more commands now, or undefined. */
  private full(s: Session): string | undefined {
    if (s.pending.size >= this.limits.commandsInFlight) {
      return `host ${s.hostId} already has ${s.pending.size} commands awaiting its agent's answer (the limit is ${this.limits.commandsInFlight}); try again later`;
    }
    const buffered = s.sink.buffered?.() ?? 0;
    if (buffered >= this.limits.bufferedBytes) {
      return `the stream to host ${s.hostId} has ${buffered} bytes not yet sent (the limit is ${this.limits.bufferedBytes}); try again later`;
    }
    return undefined;
  }

  /** A result from the host's stream; false when nobody waits for it (late or duplicate). */
  resolve(hostId: number, result: CommandResult): boolean {
    const s = this.byHost.get(hostId);
    const p = s?.pending.get(result.commandId);
    if (!s || !p) return false;
    clearTimeout(p.timer);
    s.pending.delete(result.commandId);
    p.resolve(result);
    return true;
  }

  closeAll(): void {
    for (const [hostId, s] of [...this.byHost]) this.close(hostId, s.id, "manager stopping");
    for (const [hostId, set] of [...this.waiters]) {
      for (const w of set) {
        clearTimeout(w.timer);
        w.reject(new AgentUnavailableError(String(hostId), `manager stopping while waiting for the agent of host ${hostId}`));
      }
    }
    this.waiters.clear();
  }
}
