CREATE TABLE "vm_log_requests" (
	"id" serial PRIMARY KEY NOT NULL,
	"vm_id" integer NOT NULL,
	"lines" integer,
	"status" text NOT NULL,
	"logs" text,
	"truncated" boolean DEFAULT false NOT NULL,
	"error" jsonb,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"completed_at" timestamp with time zone
);
--> statement-breakpoint
CREATE TABLE "vm_metrics" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"vm_id" integer NOT NULL,
	"at" timestamp with time zone NOT NULL,
	"granularity_seconds" integer NOT NULL,
	"cpu_percent" double precision NOT NULL,
	"memory_used_bytes" bigint NOT NULL,
	"disk_read_bytes_per_second" double precision NOT NULL,
	"disk_write_bytes_per_second" double precision NOT NULL,
	"network_in_bytes_per_second" double precision NOT NULL,
	"network_out_bytes_per_second" double precision NOT NULL
);
--> statement-breakpoint
ALTER TABLE "vm_log_requests" ADD CONSTRAINT "vm_log_requests_vm_id_vms_id_fk" FOREIGN KEY ("vm_id") REFERENCES "public"."vms"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "vm_metrics" ADD CONSTRAINT "vm_metrics_vm_id_vms_id_fk" FOREIGN KEY ("vm_id") REFERENCES "public"."vms"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "vm_log_requests_vm" ON "vm_log_requests" USING btree ("vm_id");--> statement-breakpoint
CREATE INDEX "vm_log_requests_created" ON "vm_log_requests" USING btree ("created_at");--> statement-breakpoint
CREATE INDEX "vm_metrics_vm_at" ON "vm_metrics" USING btree ("vm_id","at");--> statement-breakpoint
CREATE INDEX "vm_metrics_at" ON "vm_metrics" USING btree ("at");