CREATE TABLE "manager_instances" (
	"id" uuid PRIMARY KEY NOT NULL,
	"agent_address" text NOT NULL,
	"api_address" text NOT NULL,
	"hostname" text NOT NULL,
	"pid" integer NOT NULL,
	"started_at" timestamp with time zone DEFAULT now() NOT NULL,
	"last_seen_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "commands" ADD COLUMN "request" text;--> statement-breakpoint
ALTER TABLE "commands" ADD COLUMN "result" text;--> statement-breakpoint
ALTER TABLE "commands" ADD COLUMN "timeout_ms" integer;--> statement-breakpoint
ALTER TABLE "commands" ADD COLUMN "deliver_by" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "hosts" ADD COLUMN "connected_manager_id" uuid;