ALTER TABLE "accounts" DROP CONSTRAINT "accounts_name_unique";--> statement-breakpoint
ALTER TABLE "accounts" ADD COLUMN "max_vms" integer;--> statement-breakpoint
ALTER TABLE "accounts" ADD COLUMN "max_vcpus" integer;--> statement-breakpoint
ALTER TABLE "accounts" ADD COLUMN "max_memory_mib" bigint;--> statement-breakpoint
ALTER TABLE "accounts" ADD COLUMN "max_gpus" integer;--> statement-breakpoint
ALTER TABLE "accounts" ADD COLUMN "disabled_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "accounts" ADD COLUMN "deleted_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "accounts" ADD COLUMN "updated_at" timestamp with time zone DEFAULT now() NOT NULL;--> statement-breakpoint
ALTER TABLE "api_keys" ADD COLUMN "description" text DEFAULT '' NOT NULL;--> statement-breakpoint
ALTER TABLE "api_keys" ADD COLUMN "key_prefix" text DEFAULT '' NOT NULL;--> statement-breakpoint
CREATE UNIQUE INDEX "accounts_live_name" ON "accounts" USING btree ("name") WHERE deleted_at is null;--> statement-breakpoint
CREATE INDEX "api_keys_account" ON "api_keys" USING btree ("account_id");