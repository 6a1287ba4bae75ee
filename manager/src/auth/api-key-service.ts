// API keys: stored as sha256 hashes, shown once (with a short prefix kept so that their owner can
// tell them apart). The first start creates the admin account and its key (ORBIT_ADMIN_KEY when
// set, so scripts can drive a fresh instance). Keys of a disabled or deleted account are refused.
import { and, asc, eq, isNull, ne } from "drizzle-orm";
import { ForbiddenError, NotFoundError, UnauthenticatedError } from "#shared/errors.js";
import { newSecret, sha256 } from "#shared/secrets.js";
import type { Db } from "../db/database.js";
import { accounts, apiKeys } from "../db/schema.js";

export type Role = "admin" | "user";

export interface Principal { accountId: number; role: Role; keyId: number }

export interface ApiKey {
  id: number;
  accountId: number;
  name: string;
  description: string;
  role: Role;
  /** The first characters of the key, e.g. "orb_Xy12abCD". */
  prefix: string;
  createdAt: Date;
}

/** A key just made: the secret is in this answer only. */
export interface IssuedApiKey { apiKey: ApiKey; secret: string }

/** How long an authentication is reused without asking the database (other managers' revocations take this long). */
const CACHE_MS = 5000;
const PREFIX_LENGTH = 12;

type KeyRow = typeof apiKeys.$inferSelect;

function toApiKey(r: KeyRow): ApiKey {
  return { id: r.id, accountId: r.accountId, name: r.name, description: r.description, role: r.role, prefix: r.keyPrefix, createdAt: r.createdAt };
}

/** Which keys a caller may see and revoke in its account: a user key never sees admin keys. */
function visibleTo(role: Role) {
  return role === "admin" ? undefined : eq(apiKeys.role, "user");
}

export class ApiKeyService {
  private readonly cache = new Map<string, { p: Principal; at: number }>();

  constructor(private readonly db: Db) {}

  /** Makes sure an admin key exists; returns the key when this call created it. */
  async ensureAdminKey(configured: string | undefined): Promise<{ created: boolean; key?: string }> {
    const admin = await this.accountNamed("admin");
    if (configured) {
      const name = "admin (ORBIT_ADMIN_KEY)";
      const hash = sha256(configured);
      // Changing ORBIT_ADMIN_KEY replaces the key it set before: the old one stops working.
      await this.db.update(apiKeys).set({ revokedAt: new Date() })
        .where(and(eq(apiKeys.name, name), ne(apiKeys.keyHash, hash), isNull(apiKeys.revokedAt)));
      const inserted = await this.db.insert(apiKeys).values({
        accountId: admin, name, keyHash: hash, keyPrefix: configured.slice(0, PREFIX_LENGTH), role: "admin",
      }).onConflictDoNothing().returning({ id: apiKeys.id });
      if (!inserted.length) await this.db.update(apiKeys).set({ revokedAt: null }).where(eq(apiKeys.keyHash, hash));
      return inserted.length ? { created: true, key: configured } : { created: false };
    }
    const existing = await this.db.select({ id: apiKeys.id }).from(apiKeys)
      .where(and(eq(apiKeys.role, "admin"), isNull(apiKeys.revokedAt))).limit(1);
    if (existing.length) return { created: false };
    const { secret } = await this.issue(admin, { name: "admin (first start)", role: "admin" });
    return { created: true, key: secret };
  }

  /** The live account of that name, created when missing (bootstrap and tests). */
  private async accountNamed(name: string): Promise<number> {
    await this.db.insert(accounts).values({ name }).onConflictDoNothing();
    const [acct] = await this.db.select({ id: accounts.id }).from(accounts).where(and(eq(accounts.name, name), isNull(accounts.deletedAt)));
    return acct!.id;
  }

  /** A key for the account of that name (created unlimited when missing): bootstrap and tests. */
  async createKey(accountName: string, role: Role, name: string): Promise<string> {
    return (await this.issue(await this.accountNamed(accountName), { name, role })).secret;
  }

  /** A new key for a live account. */
  async issue(accountId: number, input: { name: string; description?: string; role: Role }): Promise<IssuedApiKey> {
    const [acct] = await this.db.select({ id: accounts.id }).from(accounts).where(and(eq(accounts.id, accountId), isNull(accounts.deletedAt)));
    if (!acct) throw new NotFoundError("account", accountId);
    const secret = newSecret("orb_");
    const [row] = await this.db.insert(apiKeys).values({
      accountId, name: input.name, description: input.description ?? "", keyHash: sha256(secret),
      keyPrefix: secret.slice(0, PREFIX_LENGTH), role: input.role,
    }).returning();
    return { apiKey: toApiKey(row!), secret };
  }

  /** The account's live keys a caller of `role` may see. */
  async list(accountId: number, role: Role = "admin"): Promise<ApiKey[]> {
    const rows = await this.db.select().from(apiKeys)
      .where(and(eq(apiKeys.accountId, accountId), isNull(apiKeys.revokedAt), visibleTo(role))).orderBy(asc(apiKeys.id));
    return rows.map(toApiKey);
  }

  /** Renames a live key of the account (another account's key is not found). */
  async update(accountId: number, keyId: number, input: { name: string; description?: string }, role: Role = "admin"): Promise<ApiKey> {
    const [row] = await this.db.update(apiKeys).set({ name: input.name, ...(input.description !== undefined && { description: input.description }) })
      .where(and(eq(apiKeys.id, keyId), eq(apiKeys.accountId, accountId), isNull(apiKeys.revokedAt), visibleTo(role))).returning();
    if (!row) throw new NotFoundError("API key", keyId);
    return toApiKey(row);
  }

  /** Revokes a live key of the account: it is refused from now on (by other managers within CACHE_MS). */
  async revoke(accountId: number, keyId: number, role: Role = "admin"): Promise<void> {
    const [row] = await this.db.update(apiKeys).set({ revokedAt: new Date() })
      .where(and(eq(apiKeys.id, keyId), eq(apiKeys.accountId, accountId), isNull(apiKeys.revokedAt), visibleTo(role)))
      .returning({ hash: apiKeys.keyHash });
    if (!row) throw new NotFoundError("API key", keyId);
    this.cache.delete(row.hash);
  }

  /** Forgets cached authentications (an account was disabled, enabled or deleted). */
  forgetCached(): void {
    this.cache.clear();
  }

  async authenticate(key: string | undefined): Promise<Principal> {
    if (!key) throw new UnauthenticatedError("missing API key: send the api_key header or Authorization: Bearer <key>");
    const hash = sha256(key);
    const hit = this.cache.get(hash);
    // A short cache keeps the hot path off the database.
    if (hit && Date.now() - hit.at < CACHE_MS) return hit.p;
    const [row] = await this.db.select({ key: apiKeys, disabledAt: accounts.disabledAt }).from(apiKeys)
      .innerJoin(accounts, eq(accounts.id, apiKeys.accountId))
      .where(and(eq(apiKeys.keyHash, hash), isNull(apiKeys.revokedAt), isNull(accounts.deletedAt)));
    if (!row) throw new UnauthenticatedError("invalid API key");
    if (row.disabledAt) throw new ForbiddenError("this key's account is disabled");
    const p: Principal = { accountId: row.key.accountId, role: row.key.role, keyId: row.key.id };
    this.cache.set(hash, { p, at: Date.now() });
    return p;
  }
}
