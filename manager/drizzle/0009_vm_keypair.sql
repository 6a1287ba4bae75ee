ALTER TABLE "vms" ADD COLUMN "key_name" text DEFAULT '' NOT NULL;--> statement-breakpoint
ALTER TABLE "vms" ADD COLUMN "ssh_authorized_keys" jsonb DEFAULT '[]'::jsonb NOT NULL;