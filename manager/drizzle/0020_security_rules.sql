CREATE TABLE "security_rules" (
	"id" serial PRIMARY KEY NOT NULL,
	"vm_id" integer NOT NULL,
	"direction" text NOT NULL,
	"ethertype" text NOT NULL,
	"protocol" text NOT NULL,
	"remote_ip_prefix" text NOT NULL,
	"port_range_min" integer,
	"port_range_max" integer,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "security_rules" ADD CONSTRAINT "security_rules_vm_id_vms_id_fk" FOREIGN KEY ("vm_id") REFERENCES "public"."vms"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "security_rules_vm" ON "security_rules" USING btree ("vm_id");