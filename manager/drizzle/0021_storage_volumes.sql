CREATE TABLE "storage_pools" (
	"id" serial PRIMARY KEY NOT NULL,
	"name" text NOT NULL,
	"cluster_id" integer NOT NULL,
	"kind" text NOT NULL,
	"path" text NOT NULL,
	"capacity_gib" bigint NOT NULL,
	"allocated_gib" bigint DEFAULT 0 NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "storage_pools_name_unique" UNIQUE("name")
);
--> statement-breakpoint
CREATE TABLE "volume_attachments" (
	"id" serial PRIMARY KEY NOT NULL,
	"volume_id" integer NOT NULL,
	"vm_id" integer NOT NULL,
	"status" text NOT NULL,
	"device" text DEFAULT '' NOT NULL,
	"protected" boolean DEFAULT false NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "volume_attachments_volume_id_unique" UNIQUE("volume_id")
);
--> statement-breakpoint
CREATE TABLE "volumes" (
	"id" serial PRIMARY KEY NOT NULL,
	"uuid" uuid NOT NULL,
	"name" text NOT NULL,
	"account_id" integer NOT NULL,
	"environment_id" integer NOT NULL,
	"pool_id" integer NOT NULL,
	"size_gib" integer NOT NULL,
	"image_id" integer,
	"description" text DEFAULT '' NOT NULL,
	"callback_url" text DEFAULT '' NOT NULL,
	"status" text DEFAULT 'available' NOT NULL,
	"path" text NOT NULL,
	"host_id" integer,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	"deleted_at" timestamp with time zone,
	CONSTRAINT "volumes_uuid_unique" UNIQUE("uuid")
);
--> statement-breakpoint
ALTER TABLE "jobs" ADD COLUMN "volume_id" integer;--> statement-breakpoint
ALTER TABLE "storage_pools" ADD CONSTRAINT "storage_pools_cluster_id_clusters_id_fk" FOREIGN KEY ("cluster_id") REFERENCES "public"."clusters"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "volume_attachments" ADD CONSTRAINT "volume_attachments_volume_id_volumes_id_fk" FOREIGN KEY ("volume_id") REFERENCES "public"."volumes"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "volume_attachments" ADD CONSTRAINT "volume_attachments_vm_id_vms_id_fk" FOREIGN KEY ("vm_id") REFERENCES "public"."vms"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "volumes" ADD CONSTRAINT "volumes_account_id_accounts_id_fk" FOREIGN KEY ("account_id") REFERENCES "public"."accounts"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "volumes" ADD CONSTRAINT "volumes_environment_id_environments_id_fk" FOREIGN KEY ("environment_id") REFERENCES "public"."environments"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "volumes" ADD CONSTRAINT "volumes_pool_id_storage_pools_id_fk" FOREIGN KEY ("pool_id") REFERENCES "public"."storage_pools"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "volumes" ADD CONSTRAINT "volumes_image_id_images_id_fk" FOREIGN KEY ("image_id") REFERENCES "public"."images"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "volumes" ADD CONSTRAINT "volumes_host_id_hosts_id_fk" FOREIGN KEY ("host_id") REFERENCES "public"."hosts"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "storage_pools_cluster" ON "storage_pools" USING btree ("cluster_id");--> statement-breakpoint
CREATE INDEX "volume_attachments_vm" ON "volume_attachments" USING btree ("vm_id");--> statement-breakpoint
CREATE INDEX "volumes_account" ON "volumes" USING btree ("account_id");--> statement-breakpoint
CREATE INDEX "volumes_pool" ON "volumes" USING btree ("pool_id");--> statement-breakpoint
ALTER TABLE "jobs" ADD CONSTRAINT "jobs_volume_id_volumes_id_fk" FOREIGN KEY ("volume_id") REFERENCES "public"."volumes"("id") ON DELETE no action ON UPDATE no action;