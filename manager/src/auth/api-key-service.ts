// API keys: stored as sha256 hashes, shown once (with a short prefix kept so that their owner can
// tell them apart). Each key belongs to a user of its account and has that user's role. The first
// start creates the admin account, its "admin" user and a key (ORBIT_ADMIN_KEY when set, so scripts
// can drive a fresh instance). Keys of a disabled or deleted account, or of a disabled user, are refused.
import { and, asc, eq, inArray, isNull, ne, sql } from "drizzle-orm";
import { ConflictError, ForbiddenError, NotFoundError, UnauthenticatedError } from "#shared/errors.js";
import { newSecret, sha256 } from "#shared/secrets.js";
import type { Db } from "../db/database.js";
import { accounts, apiKeys, users } from "../db/schema.js";
import { requireAccount } from "./user-service.js";

export type Role = "admin" | "user";

export interface Principal { accountId: number; userId: number; role: Role; keyId: number }

export interface ApiKey {
  id: number;
  accountId: number;
  userId: number;
  name: string;
  description: string;
  /** Its user's role. */
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

/** The user that keys issued by role alone go to (the names the users migration gave them). */
const DEFAULT_USER: Record<Role, string> = { user: "default", admin: "admin" };

type KeyRow = typeof apiKeys.$inferSelect;

function toApiKey(r: KeyRow, role: Role): ApiKey {
  return {
    id: r.id, accountId: r.accountId, userId: r.userId, name: r.name, description: r.description, role,
    prefix: r.keyPrefix, createdAt: r.createdAt,
  };
}

/** Which keys a caller may see and revoke in its account: a user key never sees admin users' keys. */
function visibleTo(role: Role) {
  return role === "admin" ? undefined : eq(users.role, "user");
}

/** The same rule for statements that cannot join users (update, revoke). */
function keyVisibleTo(db: Db, role: Role) {
  return role === "admin" ? undefined : inArray(apiKeys.userId, db.select({ id: users.id }).from(users).where(eq(users.role, "user")));
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
      const userId = await this.defaultUser(admin, "admin");
      // Changing ORBIT_ADMIN_KEY replaces the key it set before: the old one stops working.
      await this.db.update(apiKeys).set({ revokedAt: new Date() })
        .where(and(eq(apiKeys.name, name), ne(apiKeys.keyHash, hash), isNull(apiKeys.revokedAt)));
      const inserted = await this.db.insert(apiKeys).values({
        accountId: admin, userId, name, keyHash: hash, keyPrefix: configured.slice(0, PREFIX_LENGTH),
      }).onConflictDoNothing().returning({ id: apiKeys.id });
      if (!inserted.length) await this.db.update(apiKeys).set({ revokedAt: null }).where(eq(apiKeys.keyHash, hash));
      return inserted.length ? { created: true, key: configured } : { created: false };
    }
    const existing = await this.db.select({ id: apiKeys.id }).from(apiKeys)
      .innerJoin(users, eq(users.id, apiKeys.userId))
      .where(and(eq(users.role, "admin"), isNull(users.deletedAt), isNull(users.disabledAt), isNull(apiKeys.revokedAt))).limit(1);
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

  /**
   * The account's enabled user of that role for keys issued by role alone: the one named
   * DEFAULT_USER[role] first, created when the account has none.
   */
  private async defaultUser(accountId: number, role: Role): Promise<number> {
    const find = async () => {
      const [u] = await this.db.select({ id: users.id }).from(users)
        .where(and(eq(users.accountId, accountId), eq(users.role, role), isNull(users.deletedAt), isNull(users.disabledAt)))
        .orderBy(sql`${users.name} <> ${DEFAULT_USER[role]}`, asc(users.id)).limit(1);
      return u?.id;
    };
    const found = await find();
    if (found !== undefined) return found;
    await this.db.insert(users).values({ accountId, name: DEFAULT_USER[role], role }).onConflictDoNothing();
    const made = await find();
    if (made === undefined) throw new ConflictError(`account ${accountId} has no enabled ${role} user for this key: create one or name the user`);
    return made;
  }

  /** A key for the account of that name (created unlimited when missing), of its default user of that role: bootstrap and tests. */
  async createKey(accountName: string, role: Role, name: string): Promise<string> {
    return (await this.issue(await this.accountNamed(accountName), { name, role })).secret;
  }

  /**
   * A new key for a live account: of the user given (a live user of that account, enabled), else
   * of the account's default user of `role` (what keys were before users existed).
   */
  async issue(accountId: number, input: { name: string; description?: string; userId?: number; role?: Role }): Promise<IssuedApiKey> {
    await requireAccount(this.db, accountId);
    let userId: number;
    let role: Role;
    if (input.userId !== undefined) {
      const [u] = await this.db.select().from(users)
        .where(and(eq(users.id, input.userId), eq(users.accountId, accountId), isNull(users.deletedAt)));
      if (!u) throw new NotFoundError("user", input.userId);
      if (u.disabledAt) throw new ConflictError(`user ${u.id} is disabled: enable it before giving it a key`, "disabled");
      userId = u.id;
      role = u.role;
    } else {
      role = input.role ?? "user";
      userId = await this.defaultUser(accountId, role);
    }
    const secret = newSecret("orb_");
    const [row] = await this.db.insert(apiKeys).values({
      accountId, userId, name: input.name, description: input.description ?? "", keyHash: sha256(secret),
      keyPrefix: secret.slice(0, PREFIX_LENGTH),
    }).returning();
    return { apiKey: toApiKey(row!, role), secret };
  }

  /** The account's live keys a caller of `role` may see (of one user when `userId` is given). */
  async list(accountId: number, role: Role = "admin", userId?: number): Promise<ApiKey[]> {
    const rows = await this.db.select({ key: apiKeys, role: users.role }).from(apiKeys)
      .innerJoin(users, eq(users.id, apiKeys.userId))
      .where(and(
        eq(apiKeys.accountId, accountId), isNull(apiKeys.revokedAt), visibleTo(role),
        userId === undefined ? undefined : eq(apiKeys.userId, userId),
      )).orderBy(asc(apiKeys.id));
    return rows.map((r) => toApiKey(r.key, r.role));
  }

  /** Renames a live key of the account (another account's key is not found; of one user's keys when `userId` is given). */
  async update(accountId: number, keyId: number, input: { name: string; description?: string }, role: Role = "admin", userId?: number): Promise<ApiKey> {
    const [row] = await this.db.update(apiKeys).set({ name: input.name, ...(input.description !== undefined && { description: input.description }) })
      .where(and(
        eq(apiKeys.id, keyId), eq(apiKeys.accountId, accountId), isNull(apiKeys.revokedAt), keyVisibleTo(this.db, role),
        userId === undefined ? undefined : eq(apiKeys.userId, userId),
      )).returning();
    if (!row) throw new NotFoundError("API key", keyId);
    const [u] = await this.db.select({ role: users.role }).from(users).where(eq(users.id, row.userId));
    return toApiKey(row, u!.role);
  }

  /**
   * Revokes a live key of the account (of one user's keys when `userId` is given): it is refused
   * from now on (by other managers within CACHE_MS).
   */
  async revoke(accountId: number, keyId: number, role: Role = "admin", userId?: number): Promise<void> {
    const [row] = await this.db.update(apiKeys).set({ revokedAt: new Date() })
      .where(and(
        eq(apiKeys.id, keyId), eq(apiKeys.accountId, accountId), isNull(apiKeys.revokedAt), keyVisibleTo(this.db, role),
        userId === undefined ? undefined : eq(apiKeys.userId, userId),
      ))
      .returning({ hash: apiKeys.keyHash });
    if (!row) throw new NotFoundError("API key", keyId);
    this.cache.delete(row.hash);
  }

  /** Forgets cached authentications (an account or user was disabled, enabled, deleted or changed role). */
  forgetCached(): void {
    this.cache.clear();
  }

  async authenticate(key: string | undefined): Promise<Principal> {
    if (!key) throw new UnauthenticatedError("missing API key: send the api_key header or Authorization: Bearer <key>");
    const hash = sha256(key);
    const hit = this.cache.get(hash);
    // A short cache keeps the hot path off the database.
    if (hit && Date.now() - hit.at < CACHE_MS) return hit.p;
    const [row] = await this.db.select({ key: apiKeys, role: users.role, userDisabledAt: users.disabledAt, disabledAt: accounts.disabledAt })
      .from(apiKeys)
      .innerJoin(accounts, eq(accounts.id, apiKeys.accountId))
      .innerJoin(users, eq(users.id, apiKeys.userId))
      .where(and(eq(apiKeys.keyHash, hash), isNull(apiKeys.revokedAt), isNull(accounts.deletedAt), isNull(users.deletedAt)));
    if (!row) throw new UnauthenticatedError("invalid API key");
    if (row.userDisabledAt) throw new UnauthenticatedError("this key's user is disabled");
    if (row.disabledAt) throw new ForbiddenError("this key's account is disabled");
    const p: Principal = { accountId: row.key.accountId, userId: row.key.userId, role: row.role, keyId: row.key.id };
    this.cache.set(hash, { p, at: Date.now() });
    return p;
  }
}
