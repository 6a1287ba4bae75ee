// VM snapshots in Hyperstack's dialect (SnapshotFields plus Orbit's fields).
import type { VmSnapshot } from "../../vm/vm-snapshots.js";
import type { SnapshotView } from "./snapshot.schema.js";

const GB = 1e9;

export function snapshotView(s: VmSnapshot): SnapshotView {
  return {
    id: s.id, name: s.name, description: s.description, vm_id: s.vmId, region_id: s.regionId,
    size: s.sizeBytes == null ? 0 : Math.ceil(s.sizeBytes / GB), size_bytes: s.sizeBytes ?? null,
    status: s.state, is_image: false, labels: [],
    memory: s.memory, quiesce: s.quiesce, parent_id: s.parentId ?? null, current: s.current, error: s.error || null,
    created_at: s.createdAt.toISOString(), updated_at: s.updatedAt.toISOString(),
  };
}
