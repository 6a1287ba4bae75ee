CREATE TABLE "vm_snapshots" (
	"id" serial PRIMARY KEY NOT NULL,
	"vm_id" integer NOT NULL,
	"account_id" integer NOT NULL,
	"name" text NOT NULL,
	"description" text DEFAULT '' NOT NULL,
	"memory" boolean NOT NULL,
	"quiesce" boolean DEFAULT false NOT NULL,
	"parent_id" integer,
	"current" boolean DEFAULT false NOT NULL,
	"state" text NOT NULL,
	"error" text DEFAULT '' NOT NULL,
	"host_name" text NOT NULL,
	"size_bytes" bigint,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "vm_snapshots" ADD CONSTRAINT "vm_snapshots_vm_id_vms_id_fk" FOREIGN KEY ("vm_id") REFERENCES "public"."vms"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "vm_snapshots" ADD CONSTRAINT "vm_snapshots_account_id_accounts_id_fk" FOREIGN KEY ("account_id") REFERENCES "public"."accounts"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "vm_snapshots" ADD CONSTRAINT "vm_snapshots_parent_id_vm_snapshots_id_fk" FOREIGN KEY ("parent_id") REFERENCES "public"."vm_snapshots"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "vm_snapshots_vm" ON "vm_snapshots" USING btree ("vm_id");--> statement-breakpoint
CREATE INDEX "vm_snapshots_account" ON "vm_snapshots" USING btree ("account_id");--> statement-breakpoint
CREATE UNIQUE INDEX "vm_snapshots_vm_name" ON "vm_snapshots" USING btree ("vm_id","name");