ALTER TABLE "vm_snapshots" ADD COLUMN "pool_id" integer;--> statement-breakpoint
ALTER TABLE "vm_snapshots" ADD COLUMN "pool_gib" integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "vm_snapshots" ADD CONSTRAINT "vm_snapshots_pool_id_storage_pools_id_fk" FOREIGN KEY ("pool_id") REFERENCES "public"."storage_pools"("id") ON DELETE no action ON UPDATE no action;