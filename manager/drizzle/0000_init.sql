CREATE TABLE "accounts" (
	"id" serial PRIMARY KEY NOT NULL,
	"name" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "accounts_name_unique" UNIQUE("name")
);
--> statement-breakpoint
CREATE TABLE "allocations" (
	"id" serial PRIMARY KEY NOT NULL,
	"vm_id" integer NOT NULL,
	"host_id" integer NOT NULL,
	"vcpus" integer NOT NULL,
	"memory_mib" bigint NOT NULL,
	"numa_node" integer DEFAULT -1 NOT NULL,
	"pinned_cpus" jsonb DEFAULT '[]'::jsonb NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "allocations_vm_id_unique" UNIQUE("vm_id")
);
--> statement-breakpoint
CREATE TABLE "api_keys" (
	"id" serial PRIMARY KEY NOT NULL,
	"account_id" integer NOT NULL,
	"name" text NOT NULL,
	"key_hash" text NOT NULL,
	"role" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"revoked_at" timestamp with time zone,
	CONSTRAINT "api_keys_key_hash_unique" UNIQUE("key_hash")
);
--> statement-breakpoint
CREATE TABLE "clusters" (
	"id" serial PRIMARY KEY NOT NULL,
	"name" text NOT NULL,
	"environment_id" integer NOT NULL,
	"pod" text DEFAULT 'default' NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "commands" (
	"id" uuid PRIMARY KEY NOT NULL,
	"host_id" integer NOT NULL,
	"vm_id" integer,
	"job_id" integer,
	"kind" text NOT NULL,
	"status" text DEFAULT 'pending' NOT NULL,
	"error" jsonb,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"completed_at" timestamp with time zone
);
--> statement-breakpoint
CREATE TABLE "environments" (
	"id" serial PRIMARY KEY NOT NULL,
	"name" text NOT NULL,
	"region" text DEFAULT 'default' NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "environments_name_unique" UNIQUE("name")
);
--> statement-breakpoint
CREATE TABLE "flavors" (
	"id" serial PRIMARY KEY NOT NULL,
	"name" text NOT NULL,
	"vcpus" integer NOT NULL,
	"memory_mib" bigint NOT NULL,
	"disk_gib" integer DEFAULT 0 NOT NULL,
	"gpu_model" text DEFAULT '' NOT NULL,
	"gpu_count" integer DEFAULT 0 NOT NULL,
	"vgpu_type" text DEFAULT '' NOT NULL,
	"gpu_share_milli" integer DEFAULT 0 NOT NULL,
	"host_tags" text[] DEFAULT '{}'::text[] NOT NULL,
	"cpu_type" text DEFAULT '' NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "flavors_name_unique" UNIQUE("name")
);
--> statement-breakpoint
CREATE TABLE "gpu_allocations" (
	"id" serial PRIMARY KEY NOT NULL,
	"vm_id" integer NOT NULL,
	"host_id" integer NOT NULL,
	"gpu_id" integer NOT NULL,
	"mode" text NOT NULL,
	"vgpu_type" text DEFAULT '' NOT NULL,
	"mdev_uuid" text DEFAULT '' NOT NULL,
	"share_milli" integer DEFAULT 0 NOT NULL
);
--> statement-breakpoint
CREATE TABLE "gpus" (
	"id" serial PRIMARY KEY NOT NULL,
	"host_id" integer NOT NULL,
	"pci_address" text NOT NULL,
	"uuid" text DEFAULT '' NOT NULL,
	"model" text NOT NULL,
	"memory_mib" bigint DEFAULT 0 NOT NULL,
	"numa_node" integer DEFAULT -1 NOT NULL,
	"nvlink_peers" jsonb DEFAULT '[]'::jsonb NOT NULL,
	"vgpu_types" jsonb DEFAULT '[]'::jsonb NOT NULL,
	"mig_enabled" boolean DEFAULT false NOT NULL,
	"virtualization_mode" text DEFAULT 'none' NOT NULL,
	"present" boolean DEFAULT true NOT NULL
);
--> statement-breakpoint
CREATE TABLE "hosts" (
	"id" serial PRIMARY KEY NOT NULL,
	"uuid" uuid NOT NULL,
	"name" text NOT NULL,
	"cluster_id" integer NOT NULL,
	"state" text DEFAULT 'Connecting' NOT NULL,
	"resource_state" text DEFAULT 'Enabled' NOT NULL,
	"hypervisor" text NOT NULL,
	"driver" text NOT NULL,
	"cpu_model" text DEFAULT '' NOT NULL,
	"cpu_arch" text DEFAULT '' NOT NULL,
	"sockets" integer NOT NULL,
	"cores_per_socket" integer NOT NULL,
	"threads_per_core" integer NOT NULL,
	"cpus" integer NOT NULL,
	"cpu_mhz" integer DEFAULT 0 NOT NULL,
	"memory_mib" bigint NOT NULL,
	"memory_reserve_mib" bigint DEFAULT 0 NOT NULL,
	"numa_cells" jsonb DEFAULT '[]'::jsonb NOT NULL,
	"tags" text[] DEFAULT '{}'::text[] NOT NULL,
	"agent_version" text DEFAULT '' NOT NULL,
	"hypervisor_version" text DEFAULT '' NOT NULL,
	"discovery_warnings" jsonb DEFAULT '[]'::jsonb NOT NULL,
	"secret_hash" text NOT NULL,
	"last_heartbeat_at" timestamp with time zone,
	"generation" integer DEFAULT 0 NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "hosts_uuid_unique" UNIQUE("uuid")
);
--> statement-breakpoint
CREATE TABLE "images" (
	"id" serial PRIMARY KEY NOT NULL,
	"name" text NOT NULL,
	"os_type" text DEFAULT 'linux' NOT NULL,
	"path" text DEFAULT '' NOT NULL,
	"format" text DEFAULT 'qcow2' NOT NULL,
	"size_gib" integer DEFAULT 0 NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "images_name_unique" UNIQUE("name")
);
--> statement-breakpoint
CREATE TABLE "jobs" (
	"id" serial PRIMARY KEY NOT NULL,
	"uuid" uuid NOT NULL,
	"kind" text NOT NULL,
	"vm_id" integer,
	"account_id" integer NOT NULL,
	"status" text DEFAULT 'pending' NOT NULL,
	"progress" integer DEFAULT 0 NOT NULL,
	"attempts" integer DEFAULT 0 NOT NULL,
	"result" jsonb,
	"error" jsonb,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	"finished_at" timestamp with time zone,
	CONSTRAINT "jobs_uuid_unique" UNIQUE("uuid")
);
--> statement-breakpoint
CREATE TABLE "settings" (
	"name" text NOT NULL,
	"scope" text DEFAULT 'global' NOT NULL,
	"value" jsonb NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "unmanaged_domains" (
	"id" serial PRIMARY KEY NOT NULL,
	"host_id" integer NOT NULL,
	"domain_uuid" text NOT NULL,
	"name" text NOT NULL,
	"power_state" text NOT NULL,
	"seen_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "vm_state_transitions" (
	"id" serial PRIMARY KEY NOT NULL,
	"vm_id" integer NOT NULL,
	"from_state" text NOT NULL,
	"to_state" text NOT NULL,
	"cause" text NOT NULL,
	"at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "vms" (
	"id" serial PRIMARY KEY NOT NULL,
	"uuid" uuid NOT NULL,
	"name" text NOT NULL,
	"account_id" integer NOT NULL,
	"environment_id" integer NOT NULL,
	"flavor_id" integer NOT NULL,
	"image_id" integer NOT NULL,
	"host_id" integer,
	"state" text NOT NULL,
	"state_reason" text DEFAULT '' NOT NULL,
	"power_state" text DEFAULT 'NOSTATE' NOT NULL,
	"vcpus" integer NOT NULL,
	"memory_mib" bigint NOT NULL,
	"labels" jsonb DEFAULT '[]'::jsonb NOT NULL,
	"user_data" text DEFAULT '' NOT NULL,
	"callback_url" text DEFAULT '' NOT NULL,
	"placement" jsonb,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	"deleted_at" timestamp with time zone,
	CONSTRAINT "vms_uuid_unique" UNIQUE("uuid")
);
--> statement-breakpoint
ALTER TABLE "allocations" ADD CONSTRAINT "allocations_vm_id_vms_id_fk" FOREIGN KEY ("vm_id") REFERENCES "public"."vms"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "allocations" ADD CONSTRAINT "allocations_host_id_hosts_id_fk" FOREIGN KEY ("host_id") REFERENCES "public"."hosts"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "api_keys" ADD CONSTRAINT "api_keys_account_id_accounts_id_fk" FOREIGN KEY ("account_id") REFERENCES "public"."accounts"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "clusters" ADD CONSTRAINT "clusters_environment_id_environments_id_fk" FOREIGN KEY ("environment_id") REFERENCES "public"."environments"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "commands" ADD CONSTRAINT "commands_host_id_hosts_id_fk" FOREIGN KEY ("host_id") REFERENCES "public"."hosts"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "commands" ADD CONSTRAINT "commands_vm_id_vms_id_fk" FOREIGN KEY ("vm_id") REFERENCES "public"."vms"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "commands" ADD CONSTRAINT "commands_job_id_jobs_id_fk" FOREIGN KEY ("job_id") REFERENCES "public"."jobs"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "gpu_allocations" ADD CONSTRAINT "gpu_allocations_vm_id_vms_id_fk" FOREIGN KEY ("vm_id") REFERENCES "public"."vms"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "gpu_allocations" ADD CONSTRAINT "gpu_allocations_host_id_hosts_id_fk" FOREIGN KEY ("host_id") REFERENCES "public"."hosts"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "gpu_allocations" ADD CONSTRAINT "gpu_allocations_gpu_id_gpus_id_fk" FOREIGN KEY ("gpu_id") REFERENCES "public"."gpus"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "gpus" ADD CONSTRAINT "gpus_host_id_hosts_id_fk" FOREIGN KEY ("host_id") REFERENCES "public"."hosts"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "hosts" ADD CONSTRAINT "hosts_cluster_id_clusters_id_fk" FOREIGN KEY ("cluster_id") REFERENCES "public"."clusters"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "jobs" ADD CONSTRAINT "jobs_vm_id_vms_id_fk" FOREIGN KEY ("vm_id") REFERENCES "public"."vms"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "jobs" ADD CONSTRAINT "jobs_account_id_accounts_id_fk" FOREIGN KEY ("account_id") REFERENCES "public"."accounts"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "unmanaged_domains" ADD CONSTRAINT "unmanaged_domains_host_id_hosts_id_fk" FOREIGN KEY ("host_id") REFERENCES "public"."hosts"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "vm_state_transitions" ADD CONSTRAINT "vm_state_transitions_vm_id_vms_id_fk" FOREIGN KEY ("vm_id") REFERENCES "public"."vms"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "vms" ADD CONSTRAINT "vms_account_id_accounts_id_fk" FOREIGN KEY ("account_id") REFERENCES "public"."accounts"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "vms" ADD CONSTRAINT "vms_environment_id_environments_id_fk" FOREIGN KEY ("environment_id") REFERENCES "public"."environments"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "vms" ADD CONSTRAINT "vms_flavor_id_flavors_id_fk" FOREIGN KEY ("flavor_id") REFERENCES "public"."flavors"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "vms" ADD CONSTRAINT "vms_image_id_images_id_fk" FOREIGN KEY ("image_id") REFERENCES "public"."images"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "vms" ADD CONSTRAINT "vms_host_id_hosts_id_fk" FOREIGN KEY ("host_id") REFERENCES "public"."hosts"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "allocations_host" ON "allocations" USING btree ("host_id");--> statement-breakpoint
CREATE UNIQUE INDEX "clusters_env_name" ON "clusters" USING btree ("environment_id","name");--> statement-breakpoint
CREATE INDEX "commands_host" ON "commands" USING btree ("host_id");--> statement-breakpoint
CREATE INDEX "gpu_allocations_gpu" ON "gpu_allocations" USING btree ("gpu_id");--> statement-breakpoint
CREATE INDEX "gpu_allocations_vm" ON "gpu_allocations" USING btree ("vm_id");--> statement-breakpoint
CREATE UNIQUE INDEX "gpus_host_pci" ON "gpus" USING btree ("host_id","pci_address");--> statement-breakpoint
CREATE INDEX "jobs_status" ON "jobs" USING btree ("status");--> statement-breakpoint
CREATE UNIQUE INDEX "settings_name_scope" ON "settings" USING btree ("name","scope");--> statement-breakpoint
CREATE UNIQUE INDEX "unmanaged_host_domain" ON "unmanaged_domains" USING btree ("host_id","domain_uuid");--> statement-breakpoint
CREATE INDEX "vm_transitions_vm" ON "vm_state_transitions" USING btree ("vm_id");--> statement-breakpoint
CREATE INDEX "vms_host" ON "vms" USING btree ("host_id");--> statement-breakpoint
CREATE INDEX "vms_account" ON "vms" USING btree ("account_id");