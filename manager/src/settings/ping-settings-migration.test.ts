// The ping_setting_names migration renames stored heartbeat settings to CloudStack's names: a stored
// agent.heartbeat.interval.ms (ms) becomes ping.interval (seconds), host.heartbeat.miss.factor
// becomes ping.timeout; the manager then loads them as valid values.
import { readdirSync, readFileSync } from "node:fs";
import { afterAll, beforeAll, expect, it } from "vitest";
import { openTestDatabase, type Database } from "../db/database.js";
import { settings } from "../db/schema.js";
import { SettingsRegistry } from "./settings-registry.js";
import { SettingsService } from "./settings-service.js";

// Found by name: the number changes when branches' migrations are renumbered at merge.
const DRIZZLE = new URL("../../drizzle/", import.meta.url);
const MIGRATION = readFileSync(new URL(readdirSync(DRIZZLE).find((f) => f.endsWith("_ping_setting_names.sql"))!, DRIZZLE), "utf8");

let database: Database;
beforeAll(async () => { database = await openTestDatabase(); });
afterAll(async () => { await database?.close(); });

it("renames and converts stored rows, which then load", async () => {
  await database.db.insert(settings).values([
    { name: "agent.heartbeat.interval.ms", scope: "global", value: 2500 },
    { name: "host.heartbeat.miss.factor", scope: "global", value: 4 },
  ]);
  for (const statement of MIGRATION.split("--> statement-breakpoint")) await database.db.execute(statement);
  const rows = await database.db.select({ name: settings.name, value: settings.value }).from(settings);
  expect(rows.sort((a, b) => a.name.localeCompare(b.name))).toEqual([{ name: "ping.interval", value: 2.5 }, { name: "ping.timeout", value: 4 }]);
  const svc = new SettingsService(database.db, new SettingsRegistry());
  const warnings: string[] = [];
  await svc.load((m) => warnings.push(m));
  expect(warnings).toEqual([]);
  expect(svc.registry.number("ping.interval")).toBe(2.5);
  expect(svc.registry.number("ping.timeout")).toBe(4);
});
