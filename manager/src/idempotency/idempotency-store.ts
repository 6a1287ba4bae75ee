// The record of Idempotency-Key requests (the HTTP side is api/idempotency.ts): one row per
// account and key, inserted before the work starts (unique, so concurrent duplicates cannot both
// run), holding the first 2xx answer once there is one. A duplicate waits for that answer.
import { and, eq, lt } from "drizzle-orm";
import type { Db } from "../db/database.js";
import { idempotencyKeys } from "../db/schema.js";

export interface IdempotencyOptions {
  /** How long an answer is kept (default 24 h); a function: per account (the api.idempotency.ttl.hours setting). */
  ttlMs?: number | ((accountId: number) => number);
  /** How long a duplicate waits for the first request's answer before a 409 (default 10 s). */
  waitMs?: number;
  /** A first request still unanswered after this long is taken to have died (default 5 min). */
  staleMs?: number;
}

export type Begin =
  | { kind: "run"; id: number }
  | { kind: "replay"; status: number; body: string }
  | { kind: "mismatch" }
  | { kind: "in_progress"; stale: boolean };

export class IdempotencyStore {
  private readonly ttlMs: (accountId: number) => number;
  private readonly waitMs: number;
  private readonly staleMs: number;
  private lastSweep = 0;

  constructor(private readonly db: Db, o: IdempotencyOptions = {}) {
    const ttl = o.ttlMs ?? 24 * 3600_000;
    this.ttlMs = typeof ttl === "number" ? () => ttl : ttl;
    this.waitMs = o.waitMs ?? 10_000;
    this.staleMs = o.staleMs ?? 5 * 60_000;
  }

  /** Deletes expired rows (at most once a minute per process; lookups ignore expired rows anyway). */
  async sweep(force = false): Promise<number> {
    const now = Date.now();
    if (!force && now - this.lastSweep < 60_000) return 0;
    this.lastSweep = now;
    const gone = await this.db.delete(idempotencyKeys).where(lt(idempotencyKeys.expiresAt, new Date(now))).returning({ id: idempotencyKeys.id });
    return gone.length;
  }

  /** Claims the key for this request, or says what to answer instead. */
  async begin(accountId: number, key: string, fingerprint: string): Promise<Begin> {
    await this.sweep();
    const deadline = Date.now() + this.waitMs;
    const ttlMs = this.ttlMs(accountId);
    for (;;) {
      const now = new Date();
      // An expired answer no longer counts: the key starts afresh.
      await this.db.delete(idempotencyKeys).where(and(
        eq(idempotencyKeys.accountId, accountId), eq(idempotencyKeys.key, key), lt(idempotencyKeys.expiresAt, now)));
      const [mine] = await this.db.insert(idempotencyKeys)
        .values({ accountId, key, fingerprint, createdAt: now, expiresAt: new Date(now.getTime() + ttlMs) })
        .onConflictDoNothing().returning({ id: idempotencyKeys.id });
      if (mine) return { kind: "run", id: mine.id };
      const [first] = await this.db.select().from(idempotencyKeys)
        .where(and(eq(idempotencyKeys.accountId, accountId), eq(idempotencyKeys.key, key)));
      if (!first) continue; // abandoned (the first request failed) between the insert and this read
      if (first.fingerprint !== fingerprint) return { kind: "mismatch" };
      if (first.statusCode != null) return { kind: "replay", status: first.statusCode, body: first.responseBody ?? "" };
      const stale = Date.now() - first.createdAt.getTime() > this.staleMs;
      if (stale || Date.now() >= deadline) return { kind: "in_progress", stale };
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  async complete(id: number, status: number, body: string): Promise<void> {
    await this.db.update(idempotencyKeys).set({ statusCode: status, responseBody: body }).where(eq(idempotencyKeys.id, id));
  }

  /** The request failed: forget the key so that a retry runs. */
  async abandon(id: number): Promise<void> {
    await this.db.delete(idempotencyKeys).where(eq(idempotencyKeys.id, id));
  }
}
