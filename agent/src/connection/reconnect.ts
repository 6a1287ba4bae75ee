// How the agent waits and reports while the manager is away: full-jitter exponential backoff
// (AWS's "full jitter": uniform between 0 and the capped exponential step, so a fleet that lost
// its manager at the same moment spreads its reconnects instead of arriving in waves), and a log
// that names the first failed attempt, then at most one line per interval with a count.

export interface BackoffSettings {
  initialMs: number;
  /** No wait is ever longer than this. */
  maxMs: number;
}

/** The wait before reconnect attempt `failures` (1 = after the first failure). */
export function reconnectDelayMs(failures: number, b: BackoffSettings, random: () => number = Math.random): number {
  const step = Math.min(b.maxMs, b.initialMs * 2 ** Math.max(0, Math.min(failures - 1, 52)));
  return Math.floor(random() * step);
}

export interface ReconnectLogSink {
  warn(fields: Record<string, unknown>, message: string): void;
  info(fields: Record<string, unknown>, message: string): void;
}

/** Failed attempts since the last connection, logged at a bounded rate. */
export class ReconnectLog {
  private failures = 0;
  private since = 0;
  private lastLoggedAt = 0;
  private loggedFailures = 0;

  constructor(
    private readonly log: ReconnectLogSink,
    private readonly everyMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Attempts that failed since the manager was last reached. */
  get attempts(): number {
    return this.failures;
  }

  failed(error: string, nextInMs: number): void {
    const now = this.now();
    if (this.failures === 0) this.since = now;
    this.failures++;
    if (this.failures === 1) {
      this.log.warn({ err: error, retryInMs: nextInMs }, "could not reach or register with the manager; retrying until it is back");
    } else if (now - this.lastLoggedAt >= this.everyMs) {
      this.log.warn({
        err: error, attempts: this.failures, attemptsSinceLastLog: this.failures - this.loggedFailures,
        awayForMs: now - this.since, retryInMs: nextInMs,
      }, "still cannot reach the manager; retrying");
    } else {
      return;
    }
    this.lastLoggedAt = now;
    this.loggedFailures = this.failures;
  }

  connected(): void {
    if (this.failures > 0) this.log.info({ attempts: this.failures, awayForMs: this.now() - this.since }, "reached the manager again");
    this.failures = 0;
    this.loggedFailures = 0;
    this.lastLoggedAt = 0;
  }
}

/**
 * The wait before the next attempt when the agent goes round `managers` addresses: one round is
 * one backoff step, so after a lost manager the next one is tried within the first step
 * (initialMs), and only a round in which every manager failed makes the waits grow. With one
 * manager this is reconnectDelayMs.
 */
export function roundRobinDelayMs(failures: number, managers: number, b: BackoffSettings, random: () => number = Math.random): number {
  const rounds = Math.ceil(Math.max(1, failures) / Math.max(1, managers));
  return reconnectDelayMs(rounds, b, random);
}
