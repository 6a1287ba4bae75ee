// One-time console tokens: open-console hands one out, the WebSocket presents it. Only its
// SHA-256 is kept (a leaked store or log names no usable token), it expires after a short time,
// and the first presentation consumes it, valid or not for the caller after that.
// Kept in the database (console_tokens): with several managers, the manager that answered
// open-console need not be the one the WebSocket reaches, nor the one holding the host's stream.
import { createHash, randomBytes } from "node:crypto";
import { and, asc, eq, gt, inArray, lte } from "drizzle-orm";
import type { Db } from "../db/database.js";
import { consoleTokens } from "../db/schema.js";

/** What a token opens: one VM's console, on the host it runs on. */
export interface ConsoleTarget {
  vmId: number;
  vmUuid: string;
  hostId: number;
}

/** Unused tokens one VM may have; issuing more forgets its oldest (the table stays bounded). */
export const MAX_TOKENS_PER_VM = 16;

export function hashConsoleToken(token: string): string {
  return createHash("sha256").update(token).digest("hex");
}

export class ConsoleTokens {
  constructor(private readonly db: Db, private readonly ttlMs: () => number, private readonly now: () => number = Date.now) {}

  /** A new token for the target, valid for ttlMs; only its hash is stored. */
  async issue(target: ConsoleTarget): Promise<{ token: string; expiresAt: Date }> {
    const token = randomBytes(32).toString("base64url");
    const expiresAt = new Date(this.now() + this.ttlMs());
    await this.db.transaction(async (tx) => {
      await tx.delete(consoleTokens).where(lte(consoleTokens.expiresAt, new Date(this.now())));
      const mine = await tx.select({ hash: consoleTokens.tokenHash }).from(consoleTokens)
        .where(eq(consoleTokens.vmId, target.vmId)).orderBy(asc(consoleTokens.createdAt), asc(consoleTokens.expiresAt));
      const drop = mine.slice(0, Math.max(0, mine.length - MAX_TOKENS_PER_VM + 1)).map((r) => r.hash);
      if (drop.length) await tx.delete(consoleTokens).where(inArray(consoleTokens.tokenHash, drop));
      await tx.insert(consoleTokens).values({ tokenHash: hashConsoleToken(token), ...target, createdAt: new Date(this.now()), expiresAt });
    });
    return { token, expiresAt };
  }

  /** The target of a token not used and not expired yet, without using it (a manager that forwards the socket). */
  async peek(token: string): Promise<ConsoleTarget | undefined> {
    const [row] = await this.db.select().from(consoleTokens).where(and(
      eq(consoleTokens.tokenHash, hashConsoleToken(token)), gt(consoleTokens.expiresAt, new Date(this.now())),
    ));
    return row ? { vmId: row.vmId, vmUuid: row.vmUuid, hostId: row.hostId } : undefined;
  }

  /** The target of a token not used and not expired yet, forgetting it; undefined otherwise. */
  async consume(token: string): Promise<ConsoleTarget | undefined> {
    const [row] = await this.db.delete(consoleTokens).where(eq(consoleTokens.tokenHash, hashConsoleToken(token))).returning();
    if (!row || row.expiresAt.getTime() <= this.now()) return undefined;
    return { vmId: row.vmId, vmUuid: row.vmUuid, hostId: row.hostId };
  }

  /** Forgets every unused token of the VM (close-console). Returns how many. */
  async revokeVm(vmId: number): Promise<number> {
    return (await this.db.delete(consoleTokens).where(eq(consoleTokens.vmId, vmId)).returning({ h: consoleTokens.tokenHash })).length;
  }

  /** Hashes held now, expired ones forgotten (tests check no plain token is among them). */
  async storedHashes(): Promise<string[]> {
    await this.db.delete(consoleTokens).where(lte(consoleTokens.expiresAt, new Date(this.now())));
    return (await this.db.select({ h: consoleTokens.tokenHash }).from(consoleTokens)).map((r) => r.h);
  }
}
