ALTER TABLE "clusters" DROP CONSTRAINT "clusters_environment_id_environments_id_fk";
--> statement-breakpoint
DROP INDEX "clusters_env_name";--> statement-breakpoint
ALTER TABLE "clusters" ALTER COLUMN "region_id" SET NOT NULL;--> statement-breakpoint
ALTER TABLE "environments" ALTER COLUMN "account_id" SET NOT NULL;--> statement-breakpoint
ALTER TABLE "environments" ALTER COLUMN "region_id" SET NOT NULL;--> statement-breakpoint
CREATE UNIQUE INDEX "clusters_region_name" ON "clusters" USING btree ("region_id","name");--> statement-breakpoint
ALTER TABLE "clusters" DROP COLUMN "environment_id";--> statement-breakpoint
ALTER TABLE "environments" DROP COLUMN "region";