CREATE TABLE "host_maintenances" (
	"id" serial PRIMARY KEY NOT NULL,
	"host_id" integer NOT NULL,
	"job_id" integer,
	"allow_cold_migration" boolean DEFAULT false NOT NULL,
	"vms" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"started_at" timestamp with time zone DEFAULT now() NOT NULL,
	"ended_at" timestamp with time zone,
	"ended_by" text
);
--> statement-breakpoint
ALTER TABLE "hosts" ADD COLUMN "removed_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "host_maintenances" ADD CONSTRAINT "host_maintenances_host_id_hosts_id_fk" FOREIGN KEY ("host_id") REFERENCES "public"."hosts"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "host_maintenances" ADD CONSTRAINT "host_maintenances_job_id_jobs_id_fk" FOREIGN KEY ("job_id") REFERENCES "public"."jobs"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "host_maintenances_active" ON "host_maintenances" USING btree ("host_id") WHERE ended_at is null;