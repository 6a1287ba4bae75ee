// One-time registration tokens: an admin creates one per host to enroll (shown once, stored as
// a hash); the first successful registration consumes it atomically, inside the registration's
// own transaction, so a refused registration leaves the token usable.
import { and, desc, eq, gt, isNull, sql } from "drizzle-orm";
import { InvalidArgumentError, NotFoundError, UnauthenticatedError } from "#shared/errors.js";
import { newSecret, sha256 } from "#shared/secrets.js";
import type { Db, Tx } from "../db/database.js";
import { registrationTokens } from "../db/schema.js";

export const REGISTRATION_TOKEN_PREFIX = "ort_";
export const DEFAULT_TOKEN_TTL_SECONDS = 3600;
export const MAX_TOKEN_TTL_SECONDS = 30 * 86_400;

export type RegistrationTokenState = "active" | "used" | "expired" | "revoked";

type Row = typeof registrationTokens.$inferSelect;

/** A token's record (never its value or hash), with its state as of when it was read. */
export type RegistrationToken = Omit<Row, "tokenHash"> & { state: RegistrationTokenState };

function stateOf(r: Row, now: Date): RegistrationTokenState {
  if (r.revokedAt) return "revoked";
  if (r.usedAt) return "used";
  return r.expiresAt <= now ? "expired" : "active";
}

function record(r: Row, now: Date): RegistrationToken {
  const { tokenHash: _, ...rest } = r;
  return { ...rest, state: stateOf(r, now) };
}

export class RegistrationTokenService {
  constructor(private readonly db: Db) {}

  /** A new token; the only time its value is visible. */
  async create(opts: { expiresInSeconds?: number | undefined; note?: string | undefined } = {}): Promise<{ token: string; info: RegistrationToken }> {
    const ttl = opts.expiresInSeconds ?? DEFAULT_TOKEN_TTL_SECONDS;
    if (!Number.isInteger(ttl) || ttl < 1 || ttl > MAX_TOKEN_TTL_SECONDS) {
      throw new InvalidArgumentError("expires_in_seconds", `expires_in_seconds must be an integer in 1..${MAX_TOKEN_TTL_SECONDS}`);
    }
    const token = newSecret(REGISTRATION_TOKEN_PREFIX, 32);
    const [row] = await this.db.insert(registrationTokens).values({
      tokenHash: sha256(token), note: opts.note ?? "", expiresAt: new Date(Date.now() + ttl * 1000),
    }).returning();
    return { token, info: record(row!, new Date()) };
  }

  async list(): Promise<RegistrationToken[]> {
    const rows = await this.db.select().from(registrationTokens).orderBy(desc(registrationTokens.id));
    const now = new Date();
    return rows.map((r) => record(r, now));
  }

  /** Revokes a token that has not been used; a used token stays as the record of who used it. */
  async revoke(id: number): Promise<RegistrationToken> {
    const [row] = await this.db.update(registrationTokens).set({ revokedAt: new Date() })
      // A used token stays "used": revoking it would erase who used it.
      .where(and(eq(registrationTokens.id, id), isNull(registrationTokens.revokedAt), isNull(registrationTokens.usedAt))).returning();
    if (row) return record(row, new Date());
    const [existing] = await this.db.select().from(registrationTokens).where(eq(registrationTokens.id, id));
    if (!existing) throw new NotFoundError("registration token", id);
    return record(existing, new Date());
  }

  /** Whether the string looks like one of these tokens (so other join tokens are not looked up). */
  static looksLikeOne(token: string): boolean {
    return token.startsWith(REGISTRATION_TOKEN_PREFIX);
  }

  /**
   * Consumes the token inside the caller's transaction: a single conditional UPDATE, so two
   * registrations racing with one token cannot both win. Refusals say why.
   */
  async consume(tx: Tx, token: string): Promise<number> {
    const hash = sha256(token);
    const [won] = await tx.update(registrationTokens).set({ usedAt: sql`now()` })
      .where(and(
        eq(registrationTokens.tokenHash, hash), isNull(registrationTokens.usedAt), isNull(registrationTokens.revokedAt),
        gt(registrationTokens.expiresAt, sql`now()`),
      ))
      .returning({ id: registrationTokens.id });
    if (won) return won.id;
    const [row] = await tx.select().from(registrationTokens).where(eq(registrationTokens.tokenHash, hash));
    if (!row) throw new UnauthenticatedError("invalid join token");
    const state = stateOf(row, new Date());
    throw new UnauthenticatedError(
      state === "used" ? "registration token already used"
        : state === "revoked" ? "registration token revoked"
        : "registration token expired",
    );
  }

  async markUsedBy(tx: Tx, tokenId: number, hostId: number): Promise<void> {
    await tx.update(registrationTokens).set({ usedByHostId: hostId }).where(eq(registrationTokens.id, tokenId));
  }
}
