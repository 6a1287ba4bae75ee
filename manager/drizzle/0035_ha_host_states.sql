CREATE TABLE "stale_copies" (
	"id" serial PRIMARY KEY NOT NULL,
	"host_id" integer NOT NULL,
	"vm_id" integer NOT NULL,
	"vm_uuid" uuid NOT NULL,
	"reason" text NOT NULL,
	"remove_owned_disks" boolean DEFAULT false NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"destroy_command_id" text,
	"destroyed_at" timestamp with time zone
);
--> statement-breakpoint
ALTER TABLE "hosts" ADD COLUMN "storage_heartbeat_dir" text DEFAULT '' NOT NULL;--> statement-breakpoint
ALTER TABLE "hosts" ADD COLUMN "ha_reason" text DEFAULT '' NOT NULL;--> statement-breakpoint
ALTER TABLE "hosts" ADD COLUMN "ha_evidence" jsonb;--> statement-breakpoint
ALTER TABLE "hosts" ADD COLUMN "ha_checked_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "vms" ADD COLUMN "ha_priority" integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "vms" ADD COLUMN "crash_restarts" integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "vms" ADD COLUMN "crash_restart_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "stale_copies" ADD CONSTRAINT "stale_copies_host_id_hosts_id_fk" FOREIGN KEY ("host_id") REFERENCES "public"."hosts"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "stale_copies" ADD CONSTRAINT "stale_copies_vm_id_vms_id_fk" FOREIGN KEY ("vm_id") REFERENCES "public"."vms"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "stale_copies_host" ON "stale_copies" USING btree ("host_id");--> statement-breakpoint
CREATE UNIQUE INDEX "stale_copies_host_vm" ON "stale_copies" USING btree ("host_id","vm_id");--> statement-breakpoint
UPDATE "hosts" SET "state" = 'Suspect', "ha_reason" = 'missed its heartbeats (was Disconnected)' WHERE "state" = 'Disconnected';
