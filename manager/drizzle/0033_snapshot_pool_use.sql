ALTER TABLE "vm_snapshots" ADD COLUMN "pool_id" integer;--> statement-breakpoint
ALTER TABLE "vm_snapshots" ADD COLUMN "pool_gib" integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "vm_snapshots" ADD CONSTRAINT "vm_snapshots_pool_id_storage_pools_id_fk" FOREIGN KEY ("pool_id") REFERENCES "public"."storage_pools"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
-- Existing snapshots count in their VM's pool from now on (storage/snapshot-pool-use.ts has the
-- rules): those the host may hold (not Error, or Error after a failed delete) of live VMs, in the
-- root disk's pool or the boot volume's, at their measured saved memory rounded up to GiB, at least
-- 1 GiB (the rest was not measured then); one still being made at the estimate. The bytes exist,
-- so a pool may end up past its capacity: new reservations then wait for room.
UPDATE "vm_snapshots" s SET
  "pool_id" = coalesce(v."root_disk_pool_id", (SELECT b."pool_id" FROM "volumes" b WHERE b."id" = v."boot_volume_id")),
  "pool_gib" = CASE WHEN s."size_bytes" IS NULL THEN 1 + ceil(v."memory_mib" / 1024.0)::int
                    ELSE greatest(ceil(s."size_bytes" / 1073741824.0)::int, 1) END
FROM "vms" v
WHERE v."id" = s."vm_id" AND v."deleted_at" IS NULL AND v."state" <> 'Destroyed'
  AND (s."state" <> 'Error' OR s."error" LIKE 'vm.snapshot.delete%');--> statement-breakpoint
UPDATE "vm_snapshots" SET "pool_gib" = 0 WHERE "pool_id" IS NULL;--> statement-breakpoint
UPDATE "storage_pools" p SET "allocated_gib" = p."allocated_gib" + t."gib"
FROM (SELECT "pool_id" AS "id", sum("pool_gib") AS "gib" FROM "vm_snapshots" WHERE "pool_id" IS NOT NULL GROUP BY 1) t
WHERE t."id" = p."id";
