// The data migration that puts the images Orbit ships in every region (0026): run again on rows as
// an older install has them (region "default"), it moves those and only those.
import { readFile } from "node:fs/promises";
import { asc, sql } from "drizzle-orm";
import { afterAll, beforeAll, expect, it } from "vitest";
import { openTestDatabase, type Database } from "../db/database.js";
import { images } from "../db/schema.js";
import { DEFAULT_IMAGES } from "./catalog-seed.js";

let database: Database;
beforeAll(async () => { database = await openTestDatabase(); });
afterAll(async () => { await database?.close(); });

it("moves the shipped images (no source URL) to every region, leaving registered and other images where they are", async () => {
  const db = database.db;
  await db.insert(images).values([
    ...DEFAULT_IMAGES.map((i) => ({ ...i, regionName: "default" })),
    { name: "Registered", regionName: "default", sourceUrl: "https://example.com/disk.qcow2" },
    { name: "Inserted elsewhere", regionName: "NORTH-1" },
  ]);
  const migration = await readFile(new URL("../../drizzle/0026_seeded_images_every_region.sql", import.meta.url), "utf8");
  await db.execute(sql.raw(migration));
  const rows = await db.select({ name: images.name, region: images.regionName }).from(images).orderBy(asc(images.id));
  expect(rows).toEqual([
    ...DEFAULT_IMAGES.map((i) => ({ name: i.name, region: "" })),
    { name: "Registered", region: "default" },
    { name: "Inserted elsewhere", region: "NORTH-1" },
  ]);
});
