CREATE TABLE "vm_migrations" (
	"id" serial PRIMARY KEY NOT NULL,
	"vm_id" integer NOT NULL,
	"job_id" integer,
	"source_host_id" integer NOT NULL,
	"destination_host_id" integer NOT NULL,
	"mode" text NOT NULL,
	"storage_motion" boolean DEFAULT false NOT NULL,
	"was_running" boolean DEFAULT true NOT NULL,
	"state" text DEFAULT 'running' NOT NULL,
	"reserved_vcpus" integer NOT NULL,
	"reserved_memory_mib" bigint NOT NULL,
	"destination_pool_id" integer,
	"reserved_disk_gib" integer DEFAULT 0 NOT NULL,
	"progress" jsonb,
	"cancel_requested" boolean DEFAULT false NOT NULL,
	"downtime_ms" integer,
	"total_ms" integer,
	"error" jsonb,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"finished_at" timestamp with time zone
);
--> statement-breakpoint
ALTER TABLE "gpus" ADD COLUMN "driver_version" text DEFAULT '' NOT NULL;--> statement-breakpoint
ALTER TABLE "vm_migrations" ADD CONSTRAINT "vm_migrations_vm_id_vms_id_fk" FOREIGN KEY ("vm_id") REFERENCES "public"."vms"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "vm_migrations" ADD CONSTRAINT "vm_migrations_job_id_jobs_id_fk" FOREIGN KEY ("job_id") REFERENCES "public"."jobs"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "vm_migrations" ADD CONSTRAINT "vm_migrations_source_host_id_hosts_id_fk" FOREIGN KEY ("source_host_id") REFERENCES "public"."hosts"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "vm_migrations" ADD CONSTRAINT "vm_migrations_destination_host_id_hosts_id_fk" FOREIGN KEY ("destination_host_id") REFERENCES "public"."hosts"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "vm_migrations" ADD CONSTRAINT "vm_migrations_destination_pool_id_storage_pools_id_fk" FOREIGN KEY ("destination_pool_id") REFERENCES "public"."storage_pools"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "vm_migrations_vm" ON "vm_migrations" USING btree ("vm_id");--> statement-breakpoint
CREATE UNIQUE INDEX "vm_migrations_one_running" ON "vm_migrations" USING btree ("vm_id") WHERE state = 'running';--> statement-breakpoint
CREATE INDEX "vm_migrations_running_destination" ON "vm_migrations" USING btree ("destination_host_id") WHERE state = 'running';