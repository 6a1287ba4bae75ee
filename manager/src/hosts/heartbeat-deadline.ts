// When a host counts as having missed its heartbeats: no heartbeat for interval x miss factor.
// When an admin shortens the interval, agents learn it at once but may send their next heartbeat
// on the old cadence; for one old period the old (longer) interval still counts, so a healthy
// host is not flapped to Suspect by the change itself.

export class HeartbeatDeadline {
  private previous: { intervalMs: number; until: number } | undefined;

  constructor(
    private readonly intervalMs: () => number,
    private readonly missFactor: () => number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Call when the interval setting changed, with the value it had before. */
  intervalChanged(previousMs: number): void {
    const until = this.now() + previousMs * this.missFactor();
    // Keep the longest interval still owed a grace period.
    if (this.previous === undefined || this.previous.until < this.now() || previousMs > this.previous.intervalMs) {
      this.previous = { intervalMs: previousMs, until };
    }
  }

  /** Hosts whose last heartbeat is older than this are stale. */
  cutoff(): Date {
    const now = this.now();
    let interval = this.intervalMs();
    if (this.previous !== undefined) {
      if (this.previous.until >= now) interval = Math.max(interval, this.previous.intervalMs);
      else this.previous = undefined;
    }
    return new Date(now - interval * this.missFactor());
  }
}
