ALTER TABLE "callback_deliveries" ALTER COLUMN "vm_id" DROP NOT NULL;--> statement-breakpoint
ALTER TABLE "callback_deliveries" ADD COLUMN "volume_id" integer;--> statement-breakpoint
ALTER TABLE "callback_deliveries" ADD CONSTRAINT "callback_deliveries_volume_id_volumes_id_fk" FOREIGN KEY ("volume_id") REFERENCES "public"."volumes"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "callback_deliveries_volume" ON "callback_deliveries" USING btree ("volume_id");--> statement-breakpoint
ALTER TABLE "callback_deliveries" ADD CONSTRAINT "callback_deliveries_one_resource" CHECK (("callback_deliveries"."vm_id" is null) <> ("callback_deliveries"."volume_id" is null));