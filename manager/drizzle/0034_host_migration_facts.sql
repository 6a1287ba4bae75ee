ALTER TABLE "hosts" ADD COLUMN "migration_uri" text DEFAULT '' NOT NULL;--> statement-breakpoint
ALTER TABLE "hosts" ADD COLUMN "cluster_address" text DEFAULT '' NOT NULL;