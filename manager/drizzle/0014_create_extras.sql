CREATE TABLE "flavor_labels" (
	"id" serial PRIMARY KEY NOT NULL,
	"flavor_id" integer NOT NULL,
	"label" text NOT NULL
);
--> statement-breakpoint
ALTER TABLE "flavors" ADD COLUMN "features" jsonb DEFAULT '{}'::jsonb NOT NULL;--> statement-breakpoint
ALTER TABLE "jobs" ADD COLUMN "input" jsonb DEFAULT '{}'::jsonb NOT NULL;--> statement-breakpoint
ALTER TABLE "vms" ADD COLUMN "run_strategy" text;--> statement-breakpoint
ALTER TABLE "vms" ADD COLUMN "ha_enabled" boolean DEFAULT false NOT NULL;--> statement-breakpoint
ALTER TABLE "flavor_labels" ADD CONSTRAINT "flavor_labels_flavor_id_flavors_id_fk" FOREIGN KEY ("flavor_id") REFERENCES "public"."flavors"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "flavor_labels_flavor_label" ON "flavor_labels" USING btree ("flavor_id","label");