ALTER TABLE "vms" ADD COLUMN "root_disk_pool_id" integer;--> statement-breakpoint
ALTER TABLE "vms" ADD COLUMN "root_disk_gib" integer;--> statement-breakpoint
ALTER TABLE "vms" ADD CONSTRAINT "vms_root_disk_pool_id_storage_pools_id_fk" FOREIGN KEY ("root_disk_pool_id") REFERENCES "public"."storage_pools"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
-- Existing VMs' root disks count in their pools from now on (storage/root-disks.ts has the rules):
-- every live VM holding capacity that has an owned root disk (not booting from a volume), in its
-- host's cluster's first local pool (else its first pool), at the flavor's disk (never below the
-- image's size; an ISO boot's blank disk at least 1 GiB).
UPDATE "vms" v SET
  "root_disk_gib" = CASE WHEN i."format" = 'iso' THEN greatest(f."disk_gib", 1) ELSE greatest(f."disk_gib", i."size_gib") END,
  "root_disk_pool_id" = (SELECT p."id" FROM "storage_pools" p JOIN "hosts" h ON h."cluster_id" = p."cluster_id"
                         WHERE h."id" = v."host_id" ORDER BY (p."kind" <> 'local'), p."id" LIMIT 1)
FROM "flavors" f, "images" i
WHERE f."id" = v."flavor_id" AND i."id" = v."image_id" AND v."boot_volume_id" IS NULL AND v."deleted_at" IS NULL
  AND EXISTS (SELECT 1 FROM "allocations" a WHERE a."vm_id" = v."id");--> statement-breakpoint
UPDATE "storage_pools" p SET "allocated_gib" = p."allocated_gib" + s."gib"
FROM (SELECT "root_disk_pool_id" AS "id", sum("root_disk_gib") AS "gib" FROM "vms" WHERE "root_disk_pool_id" IS NOT NULL GROUP BY 1) s
WHERE s."id" = p."id";
