// Heartbeat writes, coalesced. A host already known Up gets its heartbeat recorded in memory (newest
// wins, one entry per host, so the map is bounded by the hosts) and written with every other host
// heard from in ONE statement per tick (HostService.recordHeartbeats). A host not known Up (its first
// heartbeat, after this manager marked it Suspect, after its stream closed) is marked Up at once with
// markUp, as before: state transitions are never delayed by the tick.
// "Known Up" is this process's belief: a host another manager (or HA, or an admin) moved out of Up
// behind its back is brought back by the next flush, which also sets Up where the row is not Up
// (at most one tick later). Liveness stays exact: the stale check flushes first, so a heartbeat
// received before the check is in the database before hosts are judged by it.
// A heartbeat's caller waits for the flush that wrote it (the agent's Ack follows the write, and
// the reconciler runs after the host is marked Up). A failed flush rejects its waiters and keeps
// the entries (newest wins) for the next tick.
import type { HostStateStore } from "./host-liveness.js";

/** How often waiting heartbeats are written: well under any heartbeat interval, small against the liveness window. */
export const HEARTBEAT_FLUSH_TICK_MS = 100;

export interface HeartbeatWrite { hostId: number; at: Date }

/** Where coalesced heartbeats are written: one statement for the whole batch. */
export interface HeartbeatStore extends HostStateStore {
  /** Returns the hosts the write brought back Up (they were not Up). */
  recordHeartbeats(batch: HeartbeatWrite[]): Promise<number[]>;
}

/** Told about each flush and each heartbeat that replaced one not yet written (monitoring). */
export interface HeartbeatFlushObserver {
  heartbeatsFlushed(batchSize: number, seconds: number, ok: boolean): void;
  heartbeatsCoalesced(where: "flush" | "stream", n: number): void;
}

interface Waiters { resolve: () => void; reject: (e: unknown) => void; promise: Promise<void> }

function waiters(): Waiters {
  let resolve!: () => void, reject!: (e: unknown) => void;
  const promise = new Promise<void>((res, rej) => { resolve = res; reject = rej; });
  promise.catch(() => undefined); // a flush nobody awaits must not be an unhandled rejection
  return { resolve, reject, promise };
}

export class HeartbeatCoalescer implements HostStateStore {
  /** Newest heartbeat time per host, not yet written. */
  private latest = new Map<number, Date>();
  /** The callers waiting for the next flush. */
  private next = waiters();
  /** Hosts this process marked Up (or flushed) and has not seen leave Up since. */
  private readonly knownUp = new Set<number>();
  private flushing: Promise<number[]> | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly store: HeartbeatStore,
    private readonly o: {
      tickMs: number; observer?: HeartbeatFlushObserver;
      /**
       * A heartbeat (possibly) brought the host back Up: it was not known Up, or the flush found it
       * not Up. Its VMs may have gone Unknown meanwhile (vm/reconcile-on-change.ts reconciles it).
       */
      cameBackUp?: (hostId: number) => void;
    },
  ) {}

  start(): void {
    // A flush still under way (a slow database) is not stacked: the next tick after it takes all that waits.
    this.timer = setInterval(() => { if (!this.flushing) void this.flush().catch(() => undefined); }, this.o.tickMs);
    this.timer.unref();
  }

  /** Stops the tick and writes what is waiting (manager shutdown). */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.flush();
  }

  /** Heartbeats waiting for the next flush. */
  pending(): number {
    return this.latest.size;
  }

  /**
   * The host was heard from. Without heartbeatAt (its stream opened) or when it is not known Up:
   * markUp at once. Otherwise the heartbeat joins the next flush, and this resolves once written.
   */
  markUp(hostId: number, heartbeatAt?: Date): Promise<void> {
    if (!heartbeatAt || !this.knownUp.has(hostId)) return this.markUpNow(hostId, heartbeatAt);
    const prev = this.latest.get(hostId);
    if (prev) this.o.observer?.heartbeatsCoalesced("flush", 1);
    if (!prev || prev.getTime() <= heartbeatAt.getTime()) this.latest.set(hostId, heartbeatAt);
    // The flush's own promise, not an async wrapper of it: this runs for every routine heartbeat.
    return this.next.promise;
  }

  private async markUpNow(hostId: number, heartbeatAt: Date | undefined): Promise<void> {
    // Anything queued for the host is older: this write supersedes it.
    if (heartbeatAt && this.latest.delete(hostId)) this.o.observer?.heartbeatsCoalesced("flush", 1);
    await this.store.markUp(hostId, heartbeatAt);
    this.knownUp.add(hostId);
    if (heartbeatAt) this.o.cameBackUp?.(hostId);
  }

  /** Flushes first, so no heartbeat already heard is judged missing; hosts marked Suspect are no longer known Up. */
  async markStale(cutoff: Date, heardSince?: Date): Promise<number[]> {
    await this.flush();
    const ids = await (heardSince ? this.store.markStale(cutoff, heardSince) : this.store.markStale(cutoff));
    for (const id of ids) this.knownUp.delete(id);
    return ids;
  }

  /** The host's stream closed: its next contact marks it Up at once again. */
  forget(hostId: number): void {
    this.knownUp.delete(hostId);
  }

  /** Writes every waiting heartbeat in one statement; a flush under way is waited for, then this one runs. */
  async flush(): Promise<void> {
    while (this.flushing) await this.flushing.catch(() => undefined);
    if (this.latest.size === 0) return;
    const batch = this.latest;
    const done = this.next;
    this.latest = new Map();
    this.next = waiters();
    const writes = [...batch].map(([hostId, at]) => ({ hostId, at }));
    const started = performance.now();
    this.flushing = this.store.recordHeartbeats(writes);
    try {
      const backUp = await this.flushing;
      for (const id of backUp) this.o.cameBackUp?.(id);
      this.o.observer?.heartbeatsFlushed(writes.length, (performance.now() - started) / 1000, true);
      done.resolve();
    } catch (e) {
      this.o.observer?.heartbeatsFlushed(writes.length, (performance.now() - started) / 1000, false);
      // Kept for the next tick unless a newer heartbeat of the host came in meanwhile.
      for (const w of writes) if (!this.latest.has(w.hostId)) this.latest.set(w.hostId, w.at);
      done.reject(e);
      throw e;
    } finally {
      this.flushing = undefined;
    }
  }
}
