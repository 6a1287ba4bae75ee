// When a failed callback is tried again: exponential backoff with "equal jitter" (half the
// delay fixed, half random), so retries of many deliveries spread out yet still grow, capped;
// retries stop at the delivery's give-up time (the retry window).

export interface BackoffPolicy { baseMs: number; maxMs: number }

/** Delay before attempt `failed + 1`, after `failed` failed attempts (failed >= 1). */
export function retryDelayMs(failed: number, p: BackoffPolicy, random: () => number = Math.random): number {
  const ceiling = Math.min(p.maxMs, p.baseMs * 2 ** Math.min(failed - 1, 40));
  return Math.round(ceiling / 2 + random() * (ceiling / 2));
}

/** The next attempt's time, or null when it would fall after the give-up time. */
export function nextAttemptAt(now: number, failed: number, giveUpAt: number, p: BackoffPolicy, random?: () => number): number | null {
  const at = now + retryDelayMs(failed, p, random);
  return at > giveUpAt ? null : at;
}
