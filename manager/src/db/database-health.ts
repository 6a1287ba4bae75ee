// Whether the database answers, as seen by the manager. Requests that fail because it does not
// are answered 503 elsewhere; here such failures are counted and turned into ONE log line when
// an outage starts and one when it ends, instead of a stack per request. A failure is only an
// outage if a probe (`select 1`) fails too: a single terminated connection is not one.
import type { Logger } from "pino";
import { databaseUnavailableFrom, type DatabaseUnavailableError } from "#shared/errors.js";

export interface DatabaseHealthOptions {
  log: Logger;
  /** Resolves when the database answers a trivial query. */
  probe: () => Promise<void>;
  /** How often an outage is probed for its end. */
  probeIntervalMs?: number;
  /** A probe that takes longer counts as failed. */
  probeTimeoutMs?: number;
}

export class DatabaseHealth {
  private outageSince: number | undefined;
  private outageReason = "";
  /** Requests and tasks refused since the outage started (or since the last probe). */
  private refused = 0;
  private probing: Promise<boolean> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(private readonly o: DatabaseHealthOptions) {}

  /** True while an outage is known (a probe failed and none succeeded since). */
  get inOutage(): boolean {
    return this.outageSince !== undefined;
  }

  /**
   * Tells about an error; returns true when it meant the database is unavailable (the caller
   * then logs nothing of its own: this logs the outage once).
   */
  report(e: unknown): boolean {
    const unavailable = databaseUnavailableFrom(e);
    if (!unavailable) return false;
    this.unavailable(unavailable);
    return true;
  }

  /** Same as report, for an error already known to be a DatabaseUnavailableError. */
  unavailable(e: DatabaseUnavailableError): void {
    this.refused++;
    if (this.inOutage || this.probing || this.closed) return;
    const reason = String(e.details.reason ?? e.message);
    void this.probeOnce().then((ok) => {
      if (ok) {
        // The database answers: one lost connection (restart of a backend, failover in progress).
        this.o.log.warn({ reason, failed: this.refused }, "database error on a connection; the database answers, the pool replaces it");
        this.refused = 0;
        return;
      }
      this.startOutage(reason);
    });
  }

  /** Probes now (readiness): true when the database answers within the probe timeout. */
  async check(): Promise<boolean> {
    const ok = await this.probeOnce();
    if (ok && this.inOutage) this.endOutage();
    if (!ok && !this.inOutage && !this.closed) this.startOutage("readiness probe failed");
    return ok;
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
  }

  private probeOnce(): Promise<boolean> {
    if (this.probing) return this.probing;
    const timeoutMs = this.o.probeTimeoutMs ?? 2000;
    let timer: NodeJS.Timeout | undefined;
    const p = Promise.race([
      this.o.probe().then(() => true, () => false),
      new Promise<boolean>((resolve) => { timer = setTimeout(() => resolve(false), timeoutMs); }),
    ]).finally(() => {
      clearTimeout(timer);
      this.probing = undefined;
    });
    this.probing = p;
    return p;
  }

  private startOutage(reason: string): void {
    if (this.inOutage || this.closed) return;
    this.outageSince = Date.now();
    this.outageReason = reason;
    this.o.log.error({ reason }, "database unavailable: requests are answered 503 and jobs wait until it answers again");
    this.schedule();
  }

  private schedule(): void {
    if (this.closed) return;
    this.timer = setTimeout(() => {
      void this.probeOnce().then((ok) => {
        if (ok) this.endOutage();
        else this.schedule();
      });
    }, this.o.probeIntervalMs ?? 1000);
    this.timer.unref();
  }

  private endOutage(): void {
    if (this.outageSince === undefined) return;
    clearTimeout(this.timer);
    const seconds = Math.round((Date.now() - this.outageSince) / 100) / 10;
    this.o.log.warn({ seconds, refused: this.refused, reason: this.outageReason }, "database available again");
    this.outageSince = undefined;
    this.refused = 0;
  }
}
