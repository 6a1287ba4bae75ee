// Persists settings at every scope, audits each change, and keeps the registry's in-memory values
// current on every manager process: a change is written, audited and announced (pg_notify on
// SETTINGS_CHANNEL) in one transaction; each process's SettingsListener re-reads the setting when
// the notification arrives (PostgreSQL), and this process applies its own change at once (the
// only process on PGlite).
import { and, count, desc, eq, isNull, sql } from "drizzle-orm";
import { InvalidArgumentError, NotFoundError } from "#shared/errors.js";
import type { Db, Tx } from "../db/database.js";
import { accounts, clusters, environments, hosts, settingChanges, settings } from "../db/schema.js";
import { allowedScopes, type SettingDefinition, type SettingsRegistry } from "./settings-registry.js";
import {
  GLOBAL, parseScopeKey, scopeKey, SETTING_SCOPES, type ScopeRef, type SettingScope,
} from "./setting-scope.js";

/** The PostgreSQL channel a change is announced on; the payload is the setting's name. */
export const SETTINGS_CHANNEL = "orbit_settings";

/**
 * Every setting is a number, a string or a boolean (settings-registry.ts, allocation-settings.ts),
 * or null where the setting says "none" (an account limit's default: unlimited).
 */
export type SettingValue = number | string | boolean | null;

/** A setting's type as the admin API shows it, from its default (a nullable one has a range). */
export type SettingType = "number" | "string" | "boolean";

/** A setting as the admin API shows it. */
export interface Setting {
  name: string;
  description: string;
  type: SettingType;
  /** The value in effect at the scope asked for (global unless one was named). */
  value: SettingValue;
  default: SettingValue;
  isDefault: boolean;
  /** Numeric settings: the allowed range, inclusive. */
  range?: { min: number; max: number };
  scopes: SettingScope[];
  /** The scope asked for, whether a value is set there, and where the value in effect comes from. */
  scope: ScopeRef;
  setHere: boolean;
  from: ScopeRef | "default";
}

/** Who made a change (the request's principal); absent for the manager's own changes at start. */
export interface SettingActor {
  userId: number;
  apiKeyId: number;
}

export interface SettingChange {
  id: number;
  name: string;
  scope: SettingScope;
  scopeId: number | null;
  oldValue: SettingValue;
  newValue: SettingValue;
  userId: number | null;
  apiKeyId: number | null;
  at: Date;
}

export interface SettingChangeQuery {
  name?: string;
  page: number;
  pageSize: number;
}

export function settingValue(name: string, v: unknown): SettingValue {
  if (typeof v === "number" || typeof v === "string" || typeof v === "boolean" || v === null) return v;
  throw new Error(`setting ${name} holds a ${typeof v}: every setting is a number, a string, a boolean or null`);
}

function settingType(d: SettingDefinition): SettingType {
  if (typeof d.default === "boolean") return "boolean";
  return typeof d.default === "number" || d.range ? "number" : "string";
}

/** A scope from the API's scope / scope_id pair: 400 for a missing, superfluous or unknown one. */
export function scopeRef(scope: string | undefined, scopeId: number | undefined): ScopeRef {
  if (scope === undefined || scope === "global") {
    if (scopeId !== undefined) throw new InvalidArgumentError("scope_id", "scope_id is only given with scope environment, cluster, host or account");
    return GLOBAL;
  }
  if (!(SETTING_SCOPES as readonly string[]).includes(scope)) {
    throw new InvalidArgumentError("scope", `unknown scope ${scope} (one of ${SETTING_SCOPES.join(", ")})`);
  }
  if (scopeId === undefined) throw new InvalidArgumentError("scope_id", `scope ${scope} needs scope_id (the ${scope}'s id)`);
  return { scope: scope as Exclude<SettingScope, "global">, id: scopeId };
}

/**
 * Serializes changes of one setting at one scope (a row lock cannot: the row may not exist yet),
 * so that each audit row's old value is the previous change's new value.
 */
async function lockSetting(tx: Tx, name: string, key: string): Promise<void> {
  await tx.execute(sql`select pg_advisory_xact_lock(hashtext(${`setting:${name}@${key}`}))`);
}

const SCOPE_TABLES = { environment: environments, cluster: clusters, host: hosts, account: accounts } as const;

export class SettingsService {
  private readonly listeners = new Set<(name: string, at: ScopeRef) => void>();

  /**
   * Changes made here and re-reads (after a notification) take turns: a re-read whose SELECT ran
   * before this process committed a change would otherwise apply the older value after it.
   */
  private turn: Promise<unknown> = Promise.resolve();

  constructor(private readonly db: Db, readonly registry: SettingsRegistry) {}

  private inTurn<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.turn.then(fn, fn);
    this.turn = run.catch(() => undefined);
    return run;
  }

  /** Loads stored values; a stored value that no longer validates is reported and skipped. */
  async load(warn: (msg: string) => void): Promise<void> {
    const rows = await this.db.select().from(settings);
    this.registry.clearAll();
    for (const r of rows) this.apply(r.name, r.scope, r.value, warn);
  }

  /**
   * Re-reads every stored value (after a lost notification connection) and tells listeners of
   * each setting whose values differ.
   */
  reloadAll(warn: (msg: string) => void): Promise<void> {
    return this.inTurn(() => this.reloadAllNow(warn));
  }

  private async reloadAllNow(warn: (msg: string) => void): Promise<void> {
    const before = this.snapshot();
    await this.load(warn);
    const after = this.snapshot();
    for (const name of new Set([...before.keys(), ...after.keys()])) {
      if (before.get(name) !== after.get(name)) this.changed(name, GLOBAL);
    }
  }

  /** Re-reads one setting at every scope (another process changed it) and tells listeners. */
  reload(name: string, warn: (msg: string) => void): Promise<void> {
    return this.inTurn(() => this.reloadNow(name, warn));
  }

  private async reloadNow(name: string, warn: (msg: string) => void): Promise<void> {
    let def: SettingDefinition;
    try {
      def = this.registry.definition(name);
    } catch {
      return; // a setting a newer manager knows: nothing here reads it
    }
    const rows = await this.db.select().from(settings).where(eq(settings.name, def.name));
    this.registry.clearSetting(def.name);
    for (const r of rows) this.apply(r.name, r.scope, r.value, warn);
    this.changed(name, GLOBAL);
  }

  /** Sets a value at a scope (global by default): validated, stored, audited and announced. */
  async set(name: string, value: unknown, at: ScopeRef = GLOBAL, actor?: SettingActor): Promise<SettingValue> {
    const v = settingValue(name, this.registry.validate(name, value));
    if (at.scope !== "global") this.registry.checkScope(name, at.scope);
    await this.inTurn(() => this.db.transaction(async (tx) => {
      await this.checkScopeExists(tx, at);
      const key = scopeKey(at);
      await lockSetting(tx, name, key);
      const [old] = await tx.select({ value: settings.value }).from(settings)
        .where(and(eq(settings.name, name), eq(settings.scope, key)));
      await tx.insert(settings).values({ name, scope: key, value: v })
        .onConflictDoUpdate({ target: [settings.name, settings.scope], set: { value: v, updatedAt: new Date() } });
      await this.audit(tx, name, at, old ? settingValue(name, old.value) : null, v, actor);
    }).then(() => this.registry.setLocal(name, v, at)));
    this.changed(name, at);
    return v;
  }

  /** Removes the value at a scope: readers get the scope above (the default, for global). */
  async reset(name: string, at: ScopeRef = GLOBAL, actor?: SettingActor): Promise<void> {
    this.registry.definition(name);
    if (at.scope !== "global") this.registry.checkScope(name, at.scope);
    await this.inTurn(() => this.db.transaction(async (tx) => {
      await this.checkScopeExists(tx, at);
      await lockSetting(tx, name, scopeKey(at));
      const [old] = await tx.delete(settings).where(and(eq(settings.name, name), eq(settings.scope, scopeKey(at))))
        .returning({ value: settings.value });
      // Resetting what is not set changes nothing: no audit row, no announcement.
      if (old) await this.audit(tx, name, at, settingValue(name, old.value), null, actor);
    }).then(() => this.registry.clearLocal(name, at)));
    this.changed(name, at);
  }

  /**
   * Told after a setting changed: `at` is the scope this process changed, or global when the
   * setting was re-read after another process changed it (at any scope). Readers should re-read.
   */
  onChange(listener: (name: string, at: ScopeRef) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  list(): Setting[] {
    return this.registry.definitions().map((d) => this.view(d, GLOBAL));
  }

  /** One setting as seen at a scope; NotFoundError naming it when there is no such setting. */
  async describe(name: string, at: ScopeRef = GLOBAL): Promise<Setting> {
    const d = this.registry.definition(name);
    if (at.scope !== "global") {
      this.registry.checkScope(name, at.scope);
      await this.checkScopeExists(this.db, at);
    }
    return this.view(d, at, await this.contextOf(at));
  }

  /** Audited changes, newest first, one page of them, and how many there are. */
  async changes(q: SettingChangeQuery): Promise<{ changes: SettingChange[]; total: number }> {
    if (q.name !== undefined) this.registry.definition(q.name);
    const where = q.name !== undefined ? eq(settingChanges.name, q.name) : undefined;
    const [rows, [n]] = await Promise.all([
      this.db.select().from(settingChanges).where(where).orderBy(desc(settingChanges.id))
        .limit(q.pageSize).offset((q.page - 1) * q.pageSize),
      this.db.select({ n: count() }).from(settingChanges).where(where),
    ]);
    return {
      total: Number(n?.n ?? 0),
      changes: rows.map((r) => ({
        id: r.id, name: r.name, scope: r.scope as SettingScope, scopeId: r.scopeId,
        oldValue: settingValue(r.name, r.oldValue), newValue: settingValue(r.name, r.newValue),
        userId: r.userId, apiKeyId: r.apiKeyId, at: r.createdAt,
      })),
    };
  }

  private async audit(tx: Tx, name: string, at: ScopeRef, oldValue: SettingValue, newValue: SettingValue, actor?: SettingActor): Promise<void> {
    await tx.insert(settingChanges).values({
      name, scope: at.scope, scopeId: at.scope === "global" ? null : at.id,
      oldValue, newValue, userId: actor?.userId ?? null, apiKeyId: actor?.apiKeyId ?? null,
    });
    // Delivered to the other processes' listeners only if this transaction commits.
    await tx.execute(sql`select pg_notify(${SETTINGS_CHANNEL}, ${name})`);
  }

  /** 404 naming the scope object when it does not exist (deleted accounts count as gone). */
  private async checkScopeExists(db: Db | Tx, at: ScopeRef): Promise<void> {
    if (at.scope === "global") return;
    const found = at.scope === "account"
      ? await db.select({ id: accounts.id }).from(accounts).where(and(eq(accounts.id, at.id), isNull(accounts.deletedAt)))
      : await db.select({ id: SCOPE_TABLES[at.scope].id }).from(SCOPE_TABLES[at.scope]).where(eq(SCOPE_TABLES[at.scope].id, at.id));
    if (found.length === 0) throw new NotFoundError(at.scope, at.id);
  }

  /** The context a scope object stands for: a host is in a cluster, an environment in an account. */
  private async contextOf(at: ScopeRef): Promise<Parameters<SettingsRegistry["resolve"]>[1]> {
    switch (at.scope) {
      case "global": return {};
      case "cluster": return { clusterId: at.id };
      case "account": return { accountId: at.id };
      case "host": {
        const [h] = await this.db.select({ clusterId: hosts.clusterId }).from(hosts).where(eq(hosts.id, at.id));
        return { hostId: at.id, ...(h ? { clusterId: h.clusterId } : {}) };
      }
      case "environment": {
        const [e] = await this.db.select({ accountId: environments.accountId }).from(environments).where(eq(environments.id, at.id));
        return { environmentId: at.id, ...(e ? { accountId: e.accountId } : {}) };
      }
    }
  }

  private view(d: SettingDefinition, at: ScopeRef, ctx: Parameters<SettingsRegistry["resolve"]>[1] = {}): Setting {
    const { value, from } = this.registry.resolveWithSource(d.name, ctx);
    return {
      name: d.name, description: d.description, type: settingType(d),
      value: settingValue(d.name, value), default: settingValue(d.name, d.default),
      isDefault: from === undefined, ...(d.range ? { range: d.range } : {}),
      scopes: allowedScopes(d), scope: at, setHere: this.registry.valueAt(d.name, at).set, from: from ?? "default",
    };
  }

  private apply(name: string, key: string, value: unknown, warn: (msg: string) => void): void {
    const at = parseScopeKey(key);
    if (!at) {
      warn(`ignoring stored setting ${name} at unknown scope ${key}`);
      return;
    }
    try {
      this.registry.setLocal(name, value, at);
    } catch (e) {
      warn(`ignoring stored setting ${name} at scope ${key}: ${(e as Error).message}`);
    }
  }

  /** Every setting's stored values, serialized: to see which ones a reload changed. */
  private snapshot(): Map<string, string> {
    return new Map(this.registry.definitions().map((d) => [d.name, JSON.stringify(this.registry.scopesSet(d.name)
      .map((s) => [scopeKey(s), (this.registry.valueAt(d.name, s) as { value: unknown }).value]))]));
  }

  private changed(name: string, at: ScopeRef): void {
    for (const l of this.listeners) l(name, at);
  }
}
