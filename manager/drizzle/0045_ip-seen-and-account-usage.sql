CREATE TABLE "account_usage_deltas" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"account_id" integer NOT NULL,
	"vms" integer DEFAULT 0 NOT NULL,
	"vcpus" bigint DEFAULT 0 NOT NULL,
	"memory_mib" bigint DEFAULT 0 NOT NULL,
	"gpus" integer DEFAULT 0 NOT NULL
);
--> statement-breakpoint
ALTER TABLE "ip_allocations" ADD COLUMN "vm_seen" boolean DEFAULT false NOT NULL;--> statement-breakpoint
CREATE INDEX "account_usage_deltas_account" ON "account_usage_deltas" USING btree ("account_id");--> statement-breakpoint
CREATE INDEX "ip_allocations_unchecked" ON "ip_allocations" USING btree ("network_id","created_at") WHERE not vm_seen;