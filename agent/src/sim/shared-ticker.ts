// One timer for the whole simulated fleet: each host asks to be called at a time, and a single
// interval pops whatever is due from a min-heap. 10,000 hosts heartbeating every second cost one
// timer and ~14 comparisons per heartbeat, instead of 10,000 timers firing in lockstep.

export interface Scheduled { cancel(): void }

/** One scheduled call; it is its own handle (no closure per call: a fleet schedules thousands a second). */
class Entry implements Scheduled {
  cancelled = false;
  constructor(readonly at: number, readonly seq: number, readonly fn: () => void) {}
  cancel(): void { this.cancelled = true; }
}

export class SharedTicker {
  private heap: Entry[] = [];
  private seq = 0;
  private timer: NodeJS.Timeout | undefined;

  /** `tickMs`: how often due entries are run (their lateness is at most about that). */
  constructor(private readonly tickMs = 50, private readonly now: () => number = Date.now) {}

  get size(): number {
    return this.heap.length;
  }

  /** Runs `fn` once at `at` (ms since the epoch), or at the first tick after it. */
  at(at: number, fn: () => void): Scheduled {
    const e = new Entry(at, this.seq++, fn);
    this.push(e);
    this.timer ??= setInterval(() => this.runDue(), this.tickMs);
    return e;
  }

  /** Runs every entry that is due (a tick; public for tests with a fake clock). */
  runDue(): void {
    const now = this.now();
    while (this.heap.length && this.heap[0]!.at <= now) {
      const e = this.pop()!;
      if (!e.cancelled) e.fn();
    }
    if (this.heap.length === 0) this.stop();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private less(a: Entry, b: Entry): boolean {
    return a.at < b.at || (a.at === b.at && a.seq < b.seq);
  }

  private push(e: Entry): void {
    const h = this.heap;
    h.push(e);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.less(h[i]!, h[p]!)) break;
      [h[i], h[p]] = [h[p]!, h[i]!];
      i = p;
    }
  }

  private pop(): Entry | undefined {
    const h = this.heap;
    const top = h[0];
    const last = h.pop()!;
    if (h.length) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1, r = l + 1;
        let m = i;
        if (l < h.length && this.less(h[l]!, h[m]!)) m = l;
        if (r < h.length && this.less(h[r]!, h[m]!)) m = r;
        if (m === i) break;
        [h[i], h[m]] = [h[m]!, h[i]!];
        i = m;
      }
    }
    return top;
  }
}
