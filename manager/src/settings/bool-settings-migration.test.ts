// The bool_settings migration turns enable.dynamic.scale.vm's stored "true"/"false" strings into
// JSON booleans, at every scope and in its audit; the manager then loads them as valid values.
import { readdirSync, readFileSync } from "node:fs";
import { eq, sql } from "drizzle-orm";
import { afterAll, beforeAll, expect, it } from "vitest";
import { openTestDatabase, type Database } from "../db/database.js";
import { settingChanges, settings } from "../db/schema.js";
import { SettingsRegistry } from "./settings-registry.js";
import { SettingsService } from "./settings-service.js";

// Found by name: the number changes when branches' migrations are renumbered at merge.
const DRIZZLE = new URL("../../drizzle/", import.meta.url);
const MIGRATION = readFileSync(new URL(readdirSync(DRIZZLE).find((f) => f.endsWith("_bool_settings.sql"))!, DRIZZLE), "utf8");
const NAME = "enable.dynamic.scale.vm";

let database: Database;
beforeAll(async () => { database = await openTestDatabase(); });
afterAll(async () => { await database?.close(); });

it("converts stored values at every scope and in the audit, leaving other settings alone; they then load", async () => {
  await database.db.insert(settings).values([
    { name: NAME, scope: "global", value: "true" },
    { name: NAME, scope: "account:4", value: "false" },
    { name: "placement.policy", scope: "global", value: "true" },
  ]);
  await database.db.insert(settingChanges).values([
    { name: NAME, scope: "global", scopeId: null, oldValue: null, newValue: "false" },
    { name: NAME, scope: "global", scopeId: null, oldValue: "false", newValue: "true" },
    { name: "placement.policy", scope: "global", scopeId: null, oldValue: null, newValue: "true" },
  ]);
  for (const statement of MIGRATION.split("--> statement-breakpoint")) await database.db.execute(statement);

  // Read as text: drizzle's jsonb reading parses a string that looks like JSON ("true") once more on PGlite.
  const rows = (await database.db.execute(sql`select name, scope, value::text as value from settings order by name, scope`)) as unknown as
    { rows: { name: string; scope: string; value: string }[] };
  expect(rows.rows).toEqual([
    { name: NAME, scope: "account:4", value: "false" },
    { name: NAME, scope: "global", value: "true" },
    { name: "placement.policy", scope: "global", value: "\"true\"" },
  ]);
  const audit = (await database.db.execute(sql`select name, old_value::text as old_value, new_value::text as new_value from setting_changes order by id`)) as unknown as
    { rows: { name: string; old_value: string | null; new_value: string }[] };
  expect(audit.rows).toEqual([
    { name: NAME, old_value: null, new_value: "false" },
    { name: NAME, old_value: "false", new_value: "true" },
    { name: "placement.policy", old_value: null, new_value: "\"true\"" },
  ]);

  // Only the global value is one this setting may have (it has no other scope); it loads as valid.
  await database.db.delete(settings).where(eq(settings.scope, "account:4"));
  await database.db.delete(settings).where(eq(settings.name, "placement.policy"));
  const svc = new SettingsService(database.db, new SettingsRegistry());
  const warnings: string[] = [];
  await svc.load((m) => warnings.push(m));
  expect(warnings).toEqual([]);
  expect(svc.registry.get(NAME)).toBe(true);
});
