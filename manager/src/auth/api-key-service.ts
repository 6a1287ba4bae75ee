// API keys: stored as sha256 hashes, shown once. The first start creates the admin account and
// its key (ORBIT_ADMIN_KEY when set, so scripts can drive a fresh instance).
import { and, eq, isNull, ne } from "drizzle-orm";
import { UnauthenticatedError } from "#shared/errors.js";
import { newSecret, sha256 } from "#shared/secrets.js";
import type { Db } from "../db/database.js";
import { accounts, apiKeys } from "../db/schema.js";

export interface Principal { accountId: number; role: "admin" | "user"; keyId: number }

export class ApiKeyService {
  private readonly cache = new Map<string, { p: Principal; at: number }>();

  constructor(private readonly db: Db) {}

  /** Makes sure an admin key exists; returns the key when this call created it. */
  async ensureAdminKey(configured: string | undefined): Promise<{ created: boolean; key?: string }> {
    await this.db.insert(accounts).values({ name: "admin" }).onConflictDoNothing();
    const [admin] = await this.db.select().from(accounts).where(eq(accounts.name, "admin"));
    if (configured) {
      const name = "admin (ORBIT_ADMIN_KEY)";
      const hash = sha256(configured);
      // Changing ORBIT_ADMIN_KEY replaces the key it set before: the old one stops working.
      await this.db.update(apiKeys).set({ revokedAt: new Date() })
        .where(and(eq(apiKeys.name, name), ne(apiKeys.keyHash, hash), isNull(apiKeys.revokedAt)));
      const inserted = await this.db.insert(apiKeys).values({ accountId: admin!.id, name, keyHash: hash, role: "admin" })
        .onConflictDoNothing().returning({ id: apiKeys.id });
      if (!inserted.length) await this.db.update(apiKeys).set({ revokedAt: null }).where(eq(apiKeys.keyHash, hash));
      return inserted.length ? { created: true, key: configured } : { created: false };
    }
    const existing = await this.db.select({ id: apiKeys.id }).from(apiKeys)
      .where(and(eq(apiKeys.role, "admin"), isNull(apiKeys.revokedAt))).limit(1);
    if (existing.length) return { created: false };
    const key = newSecret("orb_");
    await this.db.insert(apiKeys).values({ accountId: admin!.id, name: "admin (first start)", keyHash: sha256(key), role: "admin" });
    return { created: true, key };
  }

  async createKey(accountName: string, role: "admin" | "user", name: string): Promise<string> {
    await this.db.insert(accounts).values({ name: accountName }).onConflictDoNothing();
    const [acct] = await this.db.select().from(accounts).where(eq(accounts.name, accountName));
    const key = newSecret("orb_");
    await this.db.insert(apiKeys).values({ accountId: acct!.id, name, keyHash: sha256(key), role });
    return key;
  }

  async authenticate(key: string | undefined): Promise<Principal> {
    if (!key) throw new UnauthenticatedError("missing API key: send the api_key header or Authorization: Bearer <key>");
    const hash = sha256(key);
    const hit = this.cache.get(hash);
    // A short cache keeps the hot path off the database; revocation takes effect within 5 s.
    if (hit && Date.now() - hit.at < 5000) return hit.p;
    const [row] = await this.db.select().from(apiKeys).where(and(eq(apiKeys.keyHash, hash), isNull(apiKeys.revokedAt)));
    if (!row) throw new UnauthenticatedError("invalid API key");
    const p: Principal = { accountId: row.accountId, role: row.role, keyId: row.id };
    this.cache.set(hash, { p, at: Date.now() });
    return p;
  }
}
