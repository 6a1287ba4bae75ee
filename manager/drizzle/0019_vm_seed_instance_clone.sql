ALTER TABLE "vms" ADD COLUMN "seed_instance_id" text DEFAULT '' NOT NULL;--> statement-breakpoint
ALTER TABLE "vms" ADD COLUMN "cloned_from_vm_id" integer;--> statement-breakpoint
ALTER TABLE "vms" ADD CONSTRAINT "vms_cloned_from_vm_id_vms_id_fk" FOREIGN KEY ("cloned_from_vm_id") REFERENCES "public"."vms"("id") ON DELETE no action ON UPDATE no action;