// Per-account callback signing secrets: created on first use, read and rotated by the account
// (GET/POST /v1/core/callbacks/signing-secret). After a rotation the previous secret keeps
// signing, beside the new one, for a grace period so receivers can switch without a gap.
import { eq, sql } from "drizzle-orm";
import { newSecret } from "#shared/secrets.js";
import type { Db } from "../db/database.js";
import { callbackSigningSecrets } from "../db/schema.js";

export interface SigningSecret {
  secret: string;
  createdAt: Date;
  rotatedAt: Date | null;
  /** Until when the previous secret also signs (null: no previous secret in use). */
  previousValidUntil: Date | null;
}

/** What the delivery worker needs: the secrets that sign now, the current one first. */
export interface SigningSecretSource {
  signingSecrets(accountId: number, now: Date): Promise<string[]>;
}

const generate = () => newSecret("whsec_", 32);

export class CallbackSecretService implements SigningSecretSource {
  constructor(private readonly db: Db, private readonly rotationGraceMs: () => number) {}

  private async row(accountId: number) {
    await this.db.insert(callbackSigningSecrets).values({ accountId, secret: generate() }).onConflictDoNothing();
    const [row] = await this.db.select().from(callbackSigningSecrets).where(eq(callbackSigningSecrets.accountId, accountId));
    return row!;
  }

  async get(accountId: number, now = new Date()): Promise<SigningSecret> {
    const r = await this.row(accountId);
    const previousValidUntil = r.previousSecret && r.previousValidUntil && r.previousValidUntil > now ? r.previousValidUntil : null;
    return { secret: r.secret, createdAt: r.createdAt, rotatedAt: r.rotatedAt, previousValidUntil };
  }

  async rotate(accountId: number, now = new Date()): Promise<SigningSecret> {
    await this.row(accountId);
    const grace = this.rotationGraceMs();
    // One statement: SET reads the old secret, so concurrent rotations each keep the one before.
    const [r] = await this.db.update(callbackSigningSecrets).set({
      secret: generate(), previousSecret: grace > 0 ? sql`${callbackSigningSecrets.secret}` : null,
      previousValidUntil: grace > 0 ? new Date(now.getTime() + grace) : null, rotatedAt: now,
    }).where(eq(callbackSigningSecrets.accountId, accountId)).returning();
    return { secret: r!.secret, createdAt: r!.createdAt, rotatedAt: r!.rotatedAt, previousValidUntil: r!.previousValidUntil };
  }

  async signingSecrets(accountId: number, now: Date): Promise<string[]> {
    const r = await this.row(accountId);
    return r.previousSecret && r.previousValidUntil && r.previousValidUntil > now ? [r.secret, r.previousSecret] : [r.secret];
  }
}
