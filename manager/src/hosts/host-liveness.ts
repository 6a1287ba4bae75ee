// When a host counts as alive, in one place. A host is alive until its liveness deadline:
// its last heartbeat (or this manager's start, whichever is later) plus interval x miss factor.
// The same deadline decides three things, so they cannot disagree:
//   - the stale loop marks a host past it Suspect (and its running VMs Unknown); HA (ha/) then
//     investigates it (Down or Alert);
//   - a command for a host whose agent is away waits for the agent until then, not longer;
//   - agents are told a reconnect backoff cap of half the window, so an agent that lost this
//     manager (or that this manager lost by restarting) is back well before the deadline.
// Host states follow from it here and nowhere else: a host heard from (stream opened, heartbeat)
// is marked Up (from any state: Suspect, Alert, Down), a host past its deadline Suspect.
// Counting from the manager's start gives every agent not yet heard from one full window after a
// restart, and never less than STARTUP_GRACE_MS: a manager that was down for a while does not
// declare hosts dead for heartbeats it could not hear, and agents whose backoff had grown while
// it was away (or that a loaded machine slows) are waited for by resumed jobs rather than failed
// (a 4 s window was too short for agents reconnecting on a loaded 2-core machine, as a fault test
// found). A host heard from since the start is judged by its own heartbeats and the window alone.
import type { Logger } from "pino";
import type { HostStreamHandler } from "../agents/agent-gateway.js";
import { HeartbeatDeadline } from "./heartbeat-deadline.js";

export interface LivenessSettings {
  intervalMs: () => number;
  missFactor: () => number;
}

/** The shortest wait for agents after this manager starts listening, whatever the window. */
export const STARTUP_GRACE_MS = 15_000;

/** The setting names the rule is made of. */
/** CloudStack's names: ping.interval in seconds, ping.timeout a multiple of it. */
export const LIVENESS_SETTINGS = { interval: "ping.interval", missFactor: "ping.timeout" } as const;

/** What agents are told of the rule (AgentSettings in the protocol). */
export interface AgentLivenessSettings { heartbeatIntervalMs: number; reconnectBackoffMaxMs: number }

/** The rule alone (no timers, no database): unit-tested with a fake clock. */
export class LivenessRule {
  /** When this manager began to listen to agents: no host is stale for silence before it. */
  protected listeningSince: number;
  private readonly deadline: HeartbeatDeadline;

  constructor(private readonly s: LivenessSettings, protected readonly now: () => number = Date.now) {
    this.listeningSince = now();
    this.deadline = new HeartbeatDeadline(s.intervalMs, s.missFactor, now);
  }

  /** How long a host may stay silent: interval x miss factor (longer for a while after the interval was shortened). */
  windowMs(): number {
    return this.now() - this.deadline.cutoff().getTime();
  }

  /** Hosts whose last heartbeat is older are stale; undefined while no host can be (first window after start). */
  staleCutoff(): Date | undefined {
    const cutoff = this.deadline.cutoff();
    return cutoff.getTime() < this.listeningSince ? undefined : cutoff;
  }

  /** While the start-up grace lasts, only hosts heard from since the start may be stale: their heartbeats' lower bound. */
  staleOnlyHeardSince(): Date | undefined {
    return this.now() < this.listeningSince + this.firstWindowMs() ? new Date(this.listeningSince) : undefined;
  }

  /** The first window after the start: a full window, at least STARTUP_GRACE_MS. */
  private firstWindowMs(): number {
    return Math.max(this.windowMs(), STARTUP_GRACE_MS);
  }

  /** Until when (epoch ms) a host with this last heartbeat counts as alive. */
  aliveUntil(lastHeartbeatAt: Date | null | undefined): number {
    const last = lastHeartbeatAt?.getTime() ?? 0;
    if (last >= this.listeningSince) return last + this.windowMs();
    return Math.max(last + this.windowMs(), this.listeningSince + this.firstWindowMs());
  }

  /** The longest wait between an agent's reconnect attempts: half the window. */
  reconnectBackoffMaxMs(): number {
    return Math.max(100, Math.floor(this.windowMs() / 2));
  }

  /** Call when the heartbeat interval setting changed, with the value it had before. */
  intervalChanged(previousMs: number): void {
    this.deadline.intervalChanged(previousMs);
  }

  /** What agents are told at registration and after every change. */
  agentSettings(): AgentLivenessSettings {
    return { heartbeatIntervalMs: this.s.intervalMs(), reconnectBackoffMaxMs: this.reconnectBackoffMaxMs() };
  }

  /**
   * Follows the settings the rule is made of: a shortened interval gets its grace, and connected
   * agents are told the new interval and reconnect cap at once.
   */
  followSettings(onChange: (listener: (name: string) => void) => void, tellAgents: (s: AgentLivenessSettings) => void): void {
    let interval = this.s.intervalMs();
    onChange((name) => {
      if (name !== LIVENESS_SETTINGS.interval && name !== LIVENESS_SETTINGS.missFactor) return;
      if (name === LIVENESS_SETTINGS.interval) {
        this.intervalChanged(interval);
        interval = this.s.intervalMs();
      }
      tellAgents(this.agentSettings());
    });
  }
}

/** Where host states are written (HostService). */
export interface HostStateStore {
  /** The host was heard from: Up (and its last heartbeat, when given). */
  markUp(hostId: number, heartbeatAt?: Date): Promise<void>;
  /** Hosts Up past the cutoff (and, when given, heard from at or after heardSince) become Suspect; returns their ids. */
  markStale(cutoff: Date, heardSince?: Date): Promise<number[]>;
}

/** Where hosts heard from are marked Up: the store itself, or the heartbeat coalescer in front of it. */
export type HeardFrom = Pick<HostStateStore, "markUp"> & {
  /** The host's stream closed (the coalescer's next contact with it marks it Up at once). */
  forget?(hostId: number): void;
};

export interface HostLivenessLoop extends Pick<HostStateStore, "markStale"> {
  /** After each check: whatever follows from hosts being Suspect or Alert (their VMs go Unknown). */
  afterCheck(staleHostIds: number[]): Promise<void>;
  /** A failed check: true when the error was reported elsewhere (a database outage, logged once). */
  reportError?(e: unknown): boolean;
}

/** The rule plus the loop that applies it every second. */
export class HostLiveness extends LivenessRule {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;

  constructor(s: LivenessSettings, private readonly log: Logger, now: () => number = Date.now) {
    super(s, now);
  }

  /** One check: mark stale hosts Suspect, then let the caller act on them. */
  async check(loop: HostLivenessLoop): Promise<void> {
    const cutoff = this.staleCutoff();
    const heardSince = this.staleOnlyHeardSince();
    const ids = cutoff ? await (heardSince ? loop.markStale(cutoff, heardSince) : loop.markStale(cutoff)) : [];
    if (ids.length) this.log.warn({ hostIds: ids, silentForMs: this.windowMs() }, "hosts missed their heartbeats: Suspect");
    await loop.afterCheck(ids);
  }

  /** Starts the loop; call when the gateway listens: agents get a full window from then. */
  start(loop: HostLivenessLoop, everyMs = 1000): void {
    this.listeningSince = this.now();
    this.timer = setInterval(() => {
      if (this.running) return; // a slow check is not stacked
      this.running = this.check(loop)
        .catch((e) => { if (!loop.reportError?.(e)) this.log.error({ err: e }, "host liveness check failed"); })
        .finally(() => { this.running = undefined; });
    }, everyMs);
    this.timer.unref();
  }

  /**
   * The agent streams' handler: a host heard from (its stream opened, a heartbeat) is marked Up
   * before `next` (the VM reconciler) sees the event.
   */
  marksHostsUp(store: HeardFrom, next: HostStreamHandler): HostStreamHandler {
    return {
      onConnected: async (hostId) => { await store.markUp(hostId); await next.onConnected(hostId); },
      onHeartbeat: async (hostId, hb) => { await store.markUp(hostId, new Date(this.now())); await next.onHeartbeat(hostId, hb); },
      onDomainEvent: (hostId, e) => next.onDomainEvent(hostId, e),
      onLateResult: (hostId, r) => next.onLateResult(hostId, r),
      onDisconnected: (hostId) => { store.forget?.(hostId); return next.onDisconnected(hostId); },
    };
  }

  /** A heartbeat that reports nothing new (vm/reconcile-on-change.ts): the host is heard from, nothing else. */
  keepsHostsUp(store: HeardFrom): Pick<HostStreamHandler, "onHeartbeat"> {
    return { onHeartbeat: (hostId) => store.markUp(hostId, new Date(this.now())) };
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
  }
}
