ALTER TABLE "vms" ADD COLUMN "scale_max_vcpus" integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "vms" ADD COLUMN "scale_max_memory_mib" bigint DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "vms" ADD COLUMN "scale_min_memory_mib" bigint DEFAULT 0 NOT NULL;