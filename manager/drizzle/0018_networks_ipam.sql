CREATE TABLE "ip_allocations" (
	"id" serial PRIMARY KEY NOT NULL,
	"network_id" integer NOT NULL,
	"kind" text NOT NULL,
	"address" text NOT NULL,
	"vm_uuid" uuid NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "networks" (
	"id" serial PRIMARY KEY NOT NULL,
	"environment_id" integer NOT NULL,
	"region_id" integer NOT NULL,
	"cidr" text NOT NULL,
	"gateway" text NOT NULL,
	"nameservers" jsonb DEFAULT '[]'::jsonb NOT NULL,
	"floating_cidr" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "networks_environment_id_unique" UNIQUE("environment_id")
);
--> statement-breakpoint
ALTER TABLE "ip_allocations" ADD CONSTRAINT "ip_allocations_network_id_networks_id_fk" FOREIGN KEY ("network_id") REFERENCES "public"."networks"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "networks" ADD CONSTRAINT "networks_environment_id_environments_id_fk" FOREIGN KEY ("environment_id") REFERENCES "public"."environments"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "networks" ADD CONSTRAINT "networks_region_id_regions_id_fk" FOREIGN KEY ("region_id") REFERENCES "public"."regions"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "ip_allocations_network_address" ON "ip_allocations" USING btree ("network_id","address");--> statement-breakpoint
CREATE UNIQUE INDEX "ip_allocations_vm_kind" ON "ip_allocations" USING btree ("vm_uuid","kind");--> statement-breakpoint
CREATE INDEX "networks_region" ON "networks" USING btree ("region_id");