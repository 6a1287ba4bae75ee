// The callback delivery worker: claims due outbox rows, POSTs them signed, records every attempt
// and schedules the next one with backoff until the retry window is over. It runs beside the
// API and the jobs, never in their way: a slow or dead receiver only holds one of a bounded
// number of slots (callbacks.concurrency) for at most the attempt timeout.
//
// Rows are claimed with FOR UPDATE SKIP LOCKED under a lease (owner + expiry): two managers never
// send one row at once, and a row whose manager died is claimed again once its lease expires.
// Delivery is at least once (a manager that dies after the POST, before recording it, leaves it
// to be sent again; receivers de-duplicate on X-Orbit-Event-Id), and in order per VM: a VM's event
// waits until the ones before it are delivered or given up.
import { randomUUID } from "node:crypto";
import { and, asc, eq, inArray, isNull, lt, lte, or, sql } from "drizzle-orm";
import type { Logger } from "pino";
import type { Db } from "../db/database.js";
import { callbackAttempts, callbackDeliveries } from "../db/schema.js";
import { nextAttemptAt } from "./callback-backoff.js";
import type { CallbackPoster } from "./callback-http.js";
import type { SigningSecretSource } from "./callback-secrets.js";
import type { DeliverySettings } from "./callback-settings.js";
import { EVENT_ID_HEADER, EVENT_TYPE_HEADER, SIGNATURE_HEADER, signatureHeader } from "./callback-signature.js";

type DeliveryRow = typeof callbackDeliveries.$inferSelect;

export interface DeliveryWorkerOptions {
  db: Db;
  post: CallbackPoster;
  secrets: SigningSecretSource;
  settings: () => DeliverySettings;
  log: Logger;
  /** The clock (ms); tests pass a fake one. */
  now?: () => number;
  random?: () => number;
  /** This worker's lease name (default: a random id per process). */
  owner?: string;
}

/** How long a claimed row stays this worker's: longer than one attempt can take. */
export function leaseMs(s: DeliverySettings): number {
  return 2 * s.attemptTimeoutMs + 10_000;
}

export class CallbackDeliveryWorker {
  private readonly inFlight = new Set<Promise<void>>();
  private readonly now: () => number;
  private readonly owner: string;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  /** Cuts attempts in flight short when the manager stops. */
  private readonly stopping = new AbortController();

  constructor(private readonly o: DeliveryWorkerOptions) {
    this.now = o.now ?? Date.now;
    this.owner = o.owner ?? `manager-${randomUUID()}`;
  }

  start(): void {
    const loop = async () => {
      if (this.stopped) return;
      try {
        await this.tick();
      } catch (e) {
        this.o.log.warn({ err: e }, "claiming due callbacks failed; trying again");
      }
      if (!this.stopped) this.timer = setTimeout(() => void loop(), this.o.settings().pollIntervalMs).unref();
    };
    void loop();
  }

  /** Claims as many due rows as there are free slots and starts sending them; returns how many. */
  async tick(): Promise<number> {
    const s = this.o.settings();
    const free = s.concurrency - this.inFlight.size;
    if (free <= 0 || this.stopped) return 0;
    const claimed = await this.claim(free, s);
    for (const row of claimed) {
      const p = this.deliver(row, s)
        .catch((e: unknown) => this.o.log.warn({ err: e, deliveryId: row.id }, "recording a callback attempt failed; it is sent again when its lease expires"))
        .finally(() => this.inFlight.delete(p));
      this.inFlight.add(p);
    }
    return claimed.length;
  }

  private async claim(limit: number, s: DeliverySettings): Promise<DeliveryRow[]> {
    const now = new Date(this.now());
    const d = callbackDeliveries;
    return this.o.db.transaction(async (tx) => {
      const due = await tx.select({ id: d.id }).from(d).where(and(
        eq(d.status, "pending"), lte(d.nextAttemptAt, now), or(isNull(d.leaseUntil), lt(d.leaseUntil, now)),
        // In order per VM (per volume): nothing older for the same one still pending (in flight or waiting to retry).
        sql`not exists (select 1 from ${d} as older where (older.vm_id = ${d.vmId} or older.volume_id = ${d.volumeId}) and older.status = 'pending' and older.id < ${d.id})`,
      )).orderBy(asc(d.nextAttemptAt), asc(d.id)).limit(limit).for("update", { skipLocked: true });
      if (due.length === 0) return [];
      return tx.update(d).set({ leaseOwner: this.owner, leaseUntil: new Date(now.getTime() + leaseMs(s)) })
        .where(inArray(d.id, due.map((r) => r.id))).returning();
    });
  }

  private async deliver(row: DeliveryRow, s: DeliverySettings): Promise<void> {
    const attempt = row.attempts + 1;
    const started = this.now();
    let statusCode: number | null = null;
    let error: string | null = null;
    try {
      const secrets = await this.o.secrets.signingSecrets(row.accountId, new Date(started));
      const res = await this.o.post({
        url: row.url, body: row.body, timeoutMs: s.attemptTimeoutMs, signal: this.stopping.signal,
        headers: {
          [SIGNATURE_HEADER]: signatureHeader(secrets, Math.floor(started / 1000), row.body),
          [EVENT_ID_HEADER]: row.eventId, [EVENT_TYPE_HEADER]: row.eventType, "X-Orbit-Delivery-Attempt": String(attempt),
        },
      });
      statusCode = res.statusCode;
    } catch (e) {
      error = e instanceof Error ? e.message : String(e);
    }
    if (this.stopping.signal.aborted && statusCode === null) {
      // Not the receiver's failure: hand the row back for the next manager, attempt unrecorded.
      await this.o.db.update(callbackDeliveries).set({ leaseOwner: null, leaseUntil: null })
        .where(and(eq(callbackDeliveries.id, row.id), eq(callbackDeliveries.leaseOwner, this.owner)));
      return;
    }
    const finished = this.now();
    const delivered = statusCode !== null && statusCode >= 200 && statusCode < 300;
    const retryAt = delivered ? null : nextAttemptAt(finished, attempt, row.createdAt.getTime() + s.retryWindowMs, s.backoff, this.o.random);
    const outcome = delivered ? { status: "delivered" as const, finishedAt: new Date(finished) }
      : retryAt === null ? { status: "failed" as const, finishedAt: new Date(finished) }
        : { nextAttemptAt: new Date(retryAt) };
    await this.o.db.transaction(async (tx) => {
      await tx.insert(callbackAttempts).values({
        deliveryId: row.id, attempt, url: row.url, startedAt: new Date(started), durationMs: Math.max(0, Math.round(finished - started)), statusCode, error,
      });
      // Only while the row is still ours and pending (not cancelled, not re-claimed after a lost lease).
      await tx.update(callbackDeliveries).set({
        attempts: attempt, lastStatusCode: statusCode, lastError: error, leaseOwner: null, leaseUntil: null, ...outcome,
      }).where(and(eq(callbackDeliveries.id, row.id), eq(callbackDeliveries.leaseOwner, this.owner), eq(callbackDeliveries.status, "pending")));
    });
    if (!delivered) {
      this.o.log.info({ deliveryId: row.id, eventId: row.eventId, attempt, statusCode, err: error, retryAt: retryAt && new Date(retryAt) }, retryAt === null ? "callback given up" : "callback failed; retrying later");
    }
  }

  /** Waits until every send in flight is recorded (tests, shutdown). */
  async idle(): Promise<void> {
    while (this.inFlight.size) await Promise.allSettled([...this.inFlight]);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    this.stopping.abort();
    await this.idle();
  }
}
