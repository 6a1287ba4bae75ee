// VM snapshots in Hyperstack's dialect (SnapshotFields plus Orbit's fields).
import type { VmSnapshot, VmSnapshotDetails } from "../../vm/vm-snapshots.js";
import { isVmState } from "../../vm/vm-state-machine.js";
import { hyperstackStatus } from "./instance.presenter.js";
import type { SnapshotDetailView, SnapshotView } from "./snapshot.schema.js";

const GB = 1e9;

export function snapshotView(s: VmSnapshot): SnapshotView {
  return {
    id: s.id, name: s.name, description: s.description, vm_id: s.vmId, region_id: s.regionId,
    size: s.sizeBytes == null ? 0 : Math.ceil(s.sizeBytes / GB), size_bytes: s.sizeBytes ?? null,
    status: s.state, is_image: false, has_floating_ip: s.hasFloatingIp, labels: [],
    memory: s.memory, quiesce: s.quiesce, parent_id: s.parentId ?? null, current: s.current, error: s.error || null,
    created_at: s.createdAt.toISOString(), updated_at: s.updatedAt.toISOString(),
  };
}

export function snapshotDetailView(s: VmSnapshotDetails): SnapshotDetailView {
  return {
    ...snapshotView(s), labels: "", region: s.vm.region, vm_name: s.vm.name,
    vm_status: hyperstackStatus(isVmState(s.vm.state) ? s.vm.state : "Unknown").status,
    vm_flavor: s.vm.flavor, vm_image: s.vm.image, vm_keypair: s.vm.keyName || null, vm_environment: s.vm.environment,
    custom_image: null, volume_id: null, volume_name: null,
  };
}
