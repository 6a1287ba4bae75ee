ALTER TABLE "images" ADD COLUMN "status" text DEFAULT 'Ready' NOT NULL;--> statement-breakpoint
ALTER TABLE "images" ADD COLUMN "source_url" text DEFAULT '' NOT NULL;--> statement-breakpoint
ALTER TABLE "images" ADD COLUMN "checksum" text DEFAULT '' NOT NULL;--> statement-breakpoint
ALTER TABLE "images" ADD COLUMN "bootable" boolean DEFAULT true NOT NULL;--> statement-breakpoint
ALTER TABLE "images" ADD COLUMN "labels" jsonb DEFAULT '[]'::jsonb NOT NULL;--> statement-breakpoint
ALTER TABLE "images" ADD COLUMN "size_bytes" bigint;--> statement-breakpoint
ALTER TABLE "images" ADD COLUMN "virtual_size_bytes" bigint;--> statement-breakpoint
ALTER TABLE "images" ADD COLUMN "stored_sha256" text DEFAULT '' NOT NULL;--> statement-breakpoint
ALTER TABLE "images" ADD COLUMN "download_progress" jsonb;--> statement-breakpoint
ALTER TABLE "images" ADD COLUMN "error" text DEFAULT '' NOT NULL;--> statement-breakpoint
ALTER TABLE "images" ADD COLUMN "job_id" integer;