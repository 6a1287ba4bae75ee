CREATE TABLE "account_usage_deltas" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"account_id" integer NOT NULL,
	"vms" integer DEFAULT 0 NOT NULL,
	"vcpus" bigint DEFAULT 0 NOT NULL,
	"memory_mib" bigint DEFAULT 0 NOT NULL,
	"gpus" integer DEFAULT 0 NOT NULL
);
--> statement-breakpoint
CREATE INDEX "account_usage_deltas_account" ON "account_usage_deltas" USING btree ("account_id");