-- Hand-written data migration (drizzle-kit generate --custom): every account gets users, and
-- every key (live or revoked) a user whose role is the key's own, so no key gains or loses a right:
-- "default" (role user) for the account's user keys, or for an account with no admin key;
-- "admin" (role admin) for its admin keys. A deleted account's users are deleted with it.
INSERT INTO "users" ("account_id", "name", "role", "created_at", "deleted_at")
  SELECT a."id", 'default', 'user', a."created_at", a."deleted_at" FROM "accounts" a
  WHERE EXISTS (SELECT 1 FROM "api_keys" k WHERE k."account_id" = a."id" AND k."role" = 'user')
     OR NOT EXISTS (SELECT 1 FROM "api_keys" k WHERE k."account_id" = a."id" AND k."role" = 'admin');--> statement-breakpoint
INSERT INTO "users" ("account_id", "name", "role", "created_at", "deleted_at")
  SELECT a."id", 'admin', 'admin', a."created_at", a."deleted_at" FROM "accounts" a
  WHERE EXISTS (SELECT 1 FROM "api_keys" k WHERE k."account_id" = a."id" AND k."role" = 'admin');--> statement-breakpoint
UPDATE "api_keys" k SET "user_id" = u."id" FROM "users" u
  WHERE u."account_id" = k."account_id" AND u."role" = k."role" AND k."user_id" IS NULL;
