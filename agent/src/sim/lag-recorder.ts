// Heartbeat lag as the simulator sees it: from a heartbeat's sent_at_ms to the manager's ack of
// it. The manager acks a heartbeat after it has recorded it (agent-gateway.ts), so this is the
// time until the manager knows, plus the ack's trip back (loopback: well under a millisecond
// when nothing queues).

export interface LagSummary {
  count: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

/** The q-quantile (0..1) of sorted values, nearest rank. */
export function quantile(sorted: ArrayLike<number>, q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

export function summarize(values: ArrayLike<number>): LagSummary {
  const s = Float64Array.from(values as ArrayLike<number>).sort();
  return { count: s.length, p50: quantile(s, 0.5), p90: quantile(s, 0.9), p99: quantile(s, 0.99), max: s.length ? s[s.length - 1]! : NaN };
}

/** Lags of one window, in a growing typed array (10,000 hosts at 1 s: 600,000 a minute, 4.8 MB). */
export class LagRecorder {
  private values = new Float64Array(1 << 16);
  private n = 0;

  add(ms: number): void {
    if (this.n === this.values.length) {
      const bigger = new Float64Array(this.values.length * 2);
      bigger.set(this.values);
      this.values = bigger;
    }
    this.values[this.n++] = ms;
  }

  get count(): number {
    return this.n;
  }

  /** The window's summary; the recorder starts a new window. */
  take(): LagSummary {
    const s = summarize(this.values.subarray(0, this.n));
    this.n = 0;
    return s;
  }
}
