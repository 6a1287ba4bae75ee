// Users of an account as admins manage them: create, list, get, change (name, email, role,
// disabled) and delete. A key's role is its user's, so a role change applies to the user's keys at
// once; a disabled user's keys are refused until enabled again; deleting a user only marks the row
// (its name becomes free again) and revokes its keys. An admin cannot lock out their own user.
import { and, asc, eq, isNull } from "drizzle-orm";
import { AlreadyExistsError, ForbiddenError, NotFoundError } from "#shared/errors.js";
import type { Db, Tx } from "../db/database.js";
import { accounts, apiKeys, users } from "../db/schema.js";
import { isUniqueViolation } from "../db/postgres-errors.js";
import type { Principal, Role } from "./api-key-service.js";

export interface User {
  id: number;
  accountId: number;
  name: string;
  email: string | null;
  role: Role;
  disabled: boolean;
  createdAt: Date;
  updatedAt: Date;
}

export interface UserChange { name?: string; email?: string | null; role?: Role; disabled?: boolean }

type UserRow = typeof users.$inferSelect;

export function toUser(r: UserRow): User {
  return {
    id: r.id, accountId: r.accountId, name: r.name, email: r.email, role: r.role, disabled: r.disabledAt !== null,
    createdAt: r.createdAt, updatedAt: r.updatedAt,
  };
}

const live = (accountId: number, userId: number) =>
  and(eq(users.id, userId), eq(users.accountId, accountId), isNull(users.deletedAt));

/** The live account, else 404 (a user of an unknown account is not found either). */
export async function requireAccount(db: Db | Tx, accountId: number): Promise<void> {
  const [acct] = await db.select({ id: accounts.id }).from(accounts).where(and(eq(accounts.id, accountId), isNull(accounts.deletedAt)));
  if (!acct) throw new NotFoundError("account", accountId);
}

export class UserService {
  constructor(
    private readonly db: Db,
    /** Told when users' keys stop working or change role, to drop cached authentications. */
    private readonly accessChanged: () => void = () => {},
  ) {}

  async create(accountId: number, input: { name: string; email?: string | null; role?: Role }): Promise<User> {
    await requireAccount(this.db, accountId);
    try {
      const [row] = await this.db.insert(users).values({
        accountId, name: input.name, email: input.email ?? null, role: input.role ?? "user",
      }).returning();
      return toUser(row!);
    } catch (e) {
      if (isUniqueViolation(e)) throw new AlreadyExistsError("user", input.name, `user "${input.name}" already exists in account ${accountId}`);
      throw e;
    }
  }

  async list(accountId: number): Promise<User[]> {
    await requireAccount(this.db, accountId);
    const rows = await this.db.select().from(users)
      .where(and(eq(users.accountId, accountId), isNull(users.deletedAt))).orderBy(asc(users.id));
    return rows.map(toUser);
  }

  /** Another account's user is not found. */
  async get(accountId: number, userId: number): Promise<User> {
    await requireAccount(this.db, accountId);
    const [row] = await this.db.select().from(users).where(live(accountId, userId));
    if (!row) throw new NotFoundError("user", userId);
    return toUser(row);
  }

  /** `by`: the caller, who may neither disable nor demote their own user. */
  async update(accountId: number, userId: number, change: UserChange, by: Principal): Promise<User> {
    if (userId === by.userId && (change.disabled === true || change.role === "user")) {
      throw new ForbiddenError("an admin cannot disable or demote their own user");
    }
    await requireAccount(this.db, accountId);
    try {
      const [row] = await this.db.update(users).set({
        ...(change.name !== undefined && { name: change.name }),
        ...(change.email !== undefined && { email: change.email }),
        ...(change.role !== undefined && { role: change.role }),
        ...(change.disabled !== undefined && { disabledAt: change.disabled ? new Date() : null }),
        updatedAt: new Date(),
      }).where(live(accountId, userId)).returning();
      if (!row) throw new NotFoundError("user", userId);
      if (change.role !== undefined || change.disabled !== undefined) this.accessChanged();
      return toUser(row);
    } catch (e) {
      if (isUniqueViolation(e)) throw new AlreadyExistsError("user", change.name ?? "", `user "${change.name}" already exists in account ${accountId}`);
      throw e;
    }
  }

  /** Marks the user deleted and revokes its keys, in one transaction. */
  async delete(accountId: number, userId: number, by: Principal): Promise<void> {
    if (userId === by.userId) throw new ForbiddenError("an admin cannot delete their own user");
    await this.db.transaction(async (tx) => {
      await requireAccount(tx, accountId);
      const now = new Date();
      const [row] = await tx.update(users).set({ deletedAt: now, updatedAt: now }).where(live(accountId, userId)).returning({ id: users.id });
      if (!row) throw new NotFoundError("user", userId);
      await tx.update(apiKeys).set({ revokedAt: now }).where(and(eq(apiKeys.userId, userId), isNull(apiKeys.revokedAt)));
    });
    this.accessChanged();
  }
}
