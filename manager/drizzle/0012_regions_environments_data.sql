-- Hand-written data migration (drizzle-kit generate --custom): global environments become
-- regions, and per-account environments.
-- Hosts registered into an environment by name, and nothing ever set environments.region, so
-- each old environment was in effect a zone: it becomes a region of the same name.
INSERT INTO "regions" ("name") SELECT 'default' UNION SELECT "name" FROM "environments" ON CONFLICT DO NOTHING;--> statement-breakpoint
UPDATE "clusters" c SET "region_id" = r."id" FROM "environments" e, "regions" r WHERE e."id" = c."environment_id" AND r."name" = e."name";--> statement-breakpoint
-- Each account that has VMs or key pairs in an old environment gets its own environment of that name.
INSERT INTO "environments" ("name", "account_id", "region_id", "created_at")
  SELECT e."name", u."account_id", r."id", e."created_at"
  FROM (SELECT "environment_id", "account_id" FROM "vms" UNION SELECT "environment_id", "account_id" FROM "keypairs") u
  JOIN "environments" e ON e."id" = u."environment_id" JOIN "regions" r ON r."name" = e."name";--> statement-breakpoint
UPDATE "vms" v SET "environment_id" = n."id" FROM "environments" o, "environments" n
  WHERE o."id" = v."environment_id" AND o."account_id" IS NULL AND n."account_id" = v."account_id" AND n."name" = o."name";--> statement-breakpoint
UPDATE "keypairs" k SET "environment_id" = n."id" FROM "environments" o, "environments" n
  WHERE o."id" = k."environment_id" AND o."account_id" IS NULL AND n."account_id" = k."account_id" AND n."name" = o."name";--> statement-breakpoint
UPDATE "clusters" SET "environment_id" = NULL;--> statement-breakpoint
DELETE FROM "environments" WHERE "account_id" IS NULL;
