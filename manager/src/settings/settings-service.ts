// Persists global settings and keeps the registry's in-memory values current.
import { and, eq } from "drizzle-orm";
import type { Db } from "../db/database.js";
import { settings } from "../db/schema.js";
import type { SettingDefinition, SettingsRegistry } from "./settings-registry.js";

/**
 * Every setting is a number or a string (settings-registry.ts, allocation-settings.ts), or null
 * where the setting says "none" (an account limit's default: unlimited).
 */
export type SettingValue = number | string | null;

/** A setting as the admin API shows it. */
export interface Setting {
  name: string;
  description: string;
  value: SettingValue;
  default: SettingValue;
  isDefault: boolean;
  /** Numeric settings: the allowed range, inclusive. */
  range?: { min: number; max: number };
}

export function settingValue(name: string, v: unknown): SettingValue {
  if (typeof v === "number" || typeof v === "string" || v === null) return v;
  throw new Error(`setting ${name} holds a ${typeof v}: every setting is a number, a string or null`);
}

export class SettingsService {
  private readonly listeners = new Set<(name: string) => void>();

  constructor(private readonly db: Db, readonly registry: SettingsRegistry) {}

  /** Loads stored values; a stored value that no longer validates is reported and skipped. */
  async load(warn: (msg: string) => void): Promise<void> {
    const rows = await this.db.select().from(settings).where(eq(settings.scope, "global"));
    for (const r of rows) {
      try {
        this.registry.setLocal(r.name, r.value);
      } catch (e) {
        warn(`ignoring stored setting ${r.name}: ${(e as Error).message}`);
      }
    }
  }

  async set(name: string, value: unknown): Promise<SettingValue> {
    const v = settingValue(name, this.registry.validate(name, value));
    await this.db.insert(settings).values({ name, scope: "global", value: v })
      .onConflictDoUpdate({ target: [settings.name, settings.scope], set: { value: v, updatedAt: new Date() } });
    this.registry.setLocal(name, v);
    for (const l of this.listeners) l(name);
    return v;
  }

  async reset(name: string): Promise<void> {
    this.registry.validate(name, this.registry.definitions().find((d) => d.name === name)?.default);
    await this.db.delete(settings).where(and(eq(settings.name, name), eq(settings.scope, "global")));
    const fresh = this.registry;
    // Drop the in-memory override by re-setting the default.
    fresh.setLocal(name, fresh.definitions().find((d) => d.name === name)!.default);
    for (const l of this.listeners) l(name);
  }

  onChange(listener: (name: string) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  list(): Setting[] {
    return this.registry.definitions().map((d) => this.view(d));
  }

  /** One setting; NotFoundError naming it when there is no such setting. */
  describe(name: string): Setting {
    return this.view(this.registry.definition(name));
  }

  private view(d: SettingDefinition): Setting {
    return {
      name: d.name, description: d.description, value: settingValue(d.name, this.registry.get(d.name)), default: settingValue(d.name, d.default),
      isDefault: this.registry.isDefault(d.name), ...(d.range ? { range: d.range } : {}),
    };
  }
}
