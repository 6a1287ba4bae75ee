// Accounts as admins manage them: create (limits default from global settings), list, get with
// usage, change name and limits, disable and enable (a disabled account's keys are refused), and
// delete, refused while the account owns VMs. Deletion only marks the row (VM history keeps
// pointing at it) and its users, and revokes its keys; the name becomes free again.
import { and, asc, eq, isNull, sql } from "drizzle-orm";
import { z } from "zod";
import { AlreadyExistsError, ConflictError, ForbiddenError, NotFoundError } from "#shared/errors.js";
import type { Db } from "../db/database.js";
import { accounts, apiKeys, users } from "../db/schema.js";
import { accountUsage, type AccountDemand } from "../placement/account-limits.js";
import type { SettingDefinition, SettingsRegistry } from "../settings/settings-registry.js";
import { isUniqueViolation } from "../db/postgres-errors.js";

/** null: unlimited. */
export interface AccountLimits {
  vms: number | null;
  vcpus: number | null;
  memoryMib: number | null;
  gpus: number | null;
}

export interface Account {
  id: number;
  name: string;
  limits: AccountLimits;
  disabled: boolean;
  createdAt: Date;
  updatedAt: Date;
}

export type AccountUsage = AccountDemand;

const LIMIT_SETTING: Record<keyof AccountLimits, { name: string; what: string; max: number }> = {
  vms: { name: "account.default.max.vms", what: "VMs", max: 1_000_000 },
  vcpus: { name: "account.default.max.vcpus", what: "vCPUs", max: 100_000_000 },
  memoryMib: { name: "account.default.max.memory.mib", what: "MiB of RAM", max: 2 ** 50 },
  gpus: { name: "account.default.max.gpus", what: "GPUs", max: 1_000_000 },
};

/** Defaults for new accounts' limits (CloudStack's max.account.*): null means unlimited. */
export function defineAccountSettings(registry: SettingsRegistry): void {
  for (const s of Object.values(LIMIT_SETTING)) {
    registry.define({
      name: s.name,
      description: `Most ${s.what} a new account may hold, unless its creator says otherwise (null: unlimited).`,
      schema: z.number().int().nullable() as z.ZodType<unknown>,
      range: { min: 0, max: s.max },
      default: null,
    } satisfies SettingDefinition);
  }
}

export function defaultAccountLimits(registry: SettingsRegistry): AccountLimits {
  const get = (k: keyof AccountLimits) => registry.get<number | null>(LIMIT_SETTING[k].name);
  return { vms: get("vms"), vcpus: get("vcpus"), memoryMib: get("memoryMib"), gpus: get("gpus") };
}

type AccountRow = typeof accounts.$inferSelect;

function toAccount(r: AccountRow): Account {
  return {
    id: r.id, name: r.name, disabled: r.disabledAt !== null, createdAt: r.createdAt, updatedAt: r.updatedAt,
    limits: { vms: r.maxVms, vcpus: r.maxVcpus, memoryMib: r.maxMemoryMib, gpus: r.maxGpus },
  };
}

function limitColumns(l: Partial<AccountLimits>) {
  return {
    ...(l.vms !== undefined && { maxVms: l.vms }),
    ...(l.vcpus !== undefined && { maxVcpus: l.vcpus }),
    ...(l.memoryMib !== undefined && { maxMemoryMib: l.memoryMib }),
    ...(l.gpus !== undefined && { maxGpus: l.gpus }),
  };
}

export class AccountService {
  constructor(
    private readonly db: Db,
    private readonly defaults: () => AccountLimits,
    /** Told when an account's keys stop (or start) working, to drop cached authentications. */
    private readonly accessChanged: () => void = () => {},
  ) {}

  async create(input: { name: string; limits?: Partial<AccountLimits> }): Promise<Account> {
    try {
      const [row] = await this.db.insert(accounts).values({
        name: input.name, ...limitColumns({ ...this.defaults(), ...input.limits }),
      }).returning();
      return toAccount(row!);
    } catch (e) {
      if (isUniqueViolation(e)) throw new AlreadyExistsError("account", input.name, `account "${input.name}" already exists`);
      throw e;
    }
  }

  async list(): Promise<Account[]> {
    const rows = await this.db.select().from(accounts).where(isNull(accounts.deletedAt)).orderBy(asc(accounts.id));
    return rows.map(toAccount);
  }

  async get(id: number): Promise<Account> {
    const [row] = await this.db.select().from(accounts).where(and(eq(accounts.id, id), isNull(accounts.deletedAt)));
    if (!row) throw new NotFoundError("account", id);
    return toAccount(row);
  }

  /** What the accounts hold now (the figures their limits are checked against). */
  async usage(ids: readonly number[]): Promise<Map<number, AccountUsage>> {
    return accountUsage(this.db, ids);
  }

  /** Changes the name and/or limits given (a limit of null: unlimited). A lower limit than the usage only refuses new creates. */
  async update(id: number, input: { name?: string; limits?: Partial<AccountLimits> }): Promise<Account> {
    try {
      const [row] = await this.db.update(accounts).set({
        ...(input.name !== undefined && { name: input.name }), ...limitColumns(input.limits ?? {}), updatedAt: new Date(),
      }).where(and(eq(accounts.id, id), isNull(accounts.deletedAt))).returning();
      if (!row) throw new NotFoundError("account", id);
      return toAccount(row);
    } catch (e) {
      if (isUniqueViolation(e)) throw new AlreadyExistsError("account", input.name ?? "", `account "${input.name}" already exists`);
      throw e;
    }
  }

  /** `by`: the caller's account, which cannot lock itself out. */
  async setDisabled(id: number, disabled: boolean, by: number): Promise<Account> {
    if (id === by && disabled) throw new ForbiddenError("an admin cannot disable their own account");
    const [row] = await this.db.update(accounts).set({ disabledAt: disabled ? new Date() : null, updatedAt: new Date() })
      .where(and(eq(accounts.id, id), isNull(accounts.deletedAt))).returning();
    if (!row) throw new NotFoundError("account", id);
    this.accessChanged();
    return toAccount(row);
  }

  /**
   * Refused (409) while the account owns VMs. The row lock makes a concurrent create either
   * commit first (and be counted here) or find the account deleted (placement/account-limits.ts).
   */
  async delete(id: number, by: number): Promise<void> {
    if (id === by) throw new ForbiddenError("an admin cannot delete their own account");
    await this.db.transaction(async (tx) => {
      const [row] = await tx.select({ id: accounts.id }).from(accounts)
        .where(and(eq(accounts.id, id), isNull(accounts.deletedAt))).for("update");
      if (!row) throw new NotFoundError("account", id);
      const res = (await tx.execute(sql`select count(*) as n from vms where account_id = ${id} and deleted_at is null`)) as unknown as { rows: { n: string | number }[] };
      const owned = Number(res.rows[0]?.n ?? 0);
      if (owned > 0) throw new ConflictError(`account ${id} still owns ${owned} virtual machine(s): delete them first`, undefined, { vms: owned });
      const now = new Date();
      await tx.update(accounts).set({ deletedAt: now, updatedAt: now }).where(eq(accounts.id, id));
      await tx.update(apiKeys).set({ revokedAt: now }).where(and(eq(apiKeys.accountId, id), isNull(apiKeys.revokedAt)));
      await tx.update(users).set({ deletedAt: now, updatedAt: now }).where(and(eq(users.accountId, id), isNull(users.deletedAt)));
    });
    this.accessChanged();
  }
}
