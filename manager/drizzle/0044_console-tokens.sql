CREATE TABLE "console_tokens" (
	"token_hash" text PRIMARY KEY NOT NULL,
	"vm_id" integer NOT NULL,
	"vm_uuid" text NOT NULL,
	"host_id" integer NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"expires_at" timestamp with time zone NOT NULL
);
--> statement-breakpoint
ALTER TABLE "console_tokens" ADD CONSTRAINT "console_tokens_vm_id_vms_id_fk" FOREIGN KEY ("vm_id") REFERENCES "public"."vms"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "console_tokens_vm" ON "console_tokens" USING btree ("vm_id");--> statement-breakpoint
CREATE INDEX "console_tokens_expires" ON "console_tokens" USING btree ("expires_at");