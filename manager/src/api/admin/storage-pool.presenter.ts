// Storage pools as the admin API shows them.
import type { StoragePool } from "../../storage/storage-pool-service.js";
import type { StoragePoolView } from "./storage-pool.schema.js";

export function storagePoolView(p: StoragePool): StoragePoolView {
  return {
    id: p.id, name: p.name, cluster_id: p.clusterId, cluster: p.clusterName, region: p.region, kind: p.kind, path: p.path,
    capacity_gib: p.capacityGib, allocated_gib: p.allocatedGib, free_gib: Math.max(0, p.capacityGib - p.allocatedGib), volume_count: p.volumeCount,
    root_disk_count: p.rootDiskCount, snapshot_count: p.snapshotCount, snapshot_gib: p.snapshotGib,
    created_at: p.createdAt.toISOString(), updated_at: p.updatedAt.toISOString(),
  };
}
