CREATE INDEX "vms_live_account_id" ON "vms" USING btree ("account_id","id") WHERE deleted_at is null;--> statement-breakpoint
CREATE INDEX "vms_live_id" ON "vms" USING btree ("id") WHERE deleted_at is null;--> statement-breakpoint
CREATE INDEX "vms_name_trgm" ON "vms" USING gin ("name" gin_trgm_ops);