ALTER TABLE "flavors" ADD COLUMN "region_name" text DEFAULT 'default' NOT NULL;--> statement-breakpoint
ALTER TABLE "flavors" ADD COLUMN "retired_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "images" ADD COLUMN "region_name" text DEFAULT 'default' NOT NULL;--> statement-breakpoint
ALTER TABLE "images" ADD COLUMN "version" text DEFAULT '' NOT NULL;--> statement-breakpoint
ALTER TABLE "images" ADD COLUMN "description" text DEFAULT '' NOT NULL;--> statement-breakpoint
ALTER TABLE "images" ADD COLUMN "is_public" boolean DEFAULT true NOT NULL;