CREATE TABLE "affinity_group_members" (
	"group_id" integer NOT NULL,
	"vm_id" integer NOT NULL
);
--> statement-breakpoint
CREATE TABLE "affinity_groups" (
	"id" serial PRIMARY KEY NOT NULL,
	"uuid" uuid NOT NULL,
	"account_id" integer NOT NULL,
	"name" text NOT NULL,
	"type" text NOT NULL,
	"strict" boolean DEFAULT true NOT NULL,
	"description" text DEFAULT '' NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "affinity_groups_uuid_unique" UNIQUE("uuid")
);
--> statement-breakpoint
ALTER TABLE "affinity_group_members" ADD CONSTRAINT "affinity_group_members_group_id_affinity_groups_id_fk" FOREIGN KEY ("group_id") REFERENCES "public"."affinity_groups"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "affinity_group_members" ADD CONSTRAINT "affinity_group_members_vm_id_vms_id_fk" FOREIGN KEY ("vm_id") REFERENCES "public"."vms"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "affinity_groups" ADD CONSTRAINT "affinity_groups_account_id_accounts_id_fk" FOREIGN KEY ("account_id") REFERENCES "public"."accounts"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "affinity_group_members_pk" ON "affinity_group_members" USING btree ("group_id","vm_id");--> statement-breakpoint
CREATE INDEX "affinity_group_members_vm" ON "affinity_group_members" USING btree ("vm_id");--> statement-breakpoint
CREATE UNIQUE INDEX "affinity_groups_account_name" ON "affinity_groups" USING btree ("account_id","name");