// Admin placement controls in Orbit's admin dialect.
import type { MaintenanceStatus, MaintenanceVm } from "../../hosts/host-maintenance.js";
import type { RemovedHost } from "../../hosts/host-removal.js";
import type { ClusterSettingValue, ClusterWithSettings } from "../../placement/host-admin.js";
import type { ClusterSettingView, ClusterView, HostResourceStateView, MaintenanceView, MaintenanceVmView, RemovedHostView } from "./host-admin.schema.js";

export function maintenanceVmView(v: MaintenanceVm): MaintenanceVmView {
  return {
    vm_id: v.vm_id, status: v.status,
    ...(v.reason !== undefined ? { reason: v.reason } : {}), ...(v.error !== undefined ? { error: v.error } : {}),
    ...(v.job_id !== undefined ? { job_id: v.job_id } : {}), ...(v.migration_id !== undefined ? { migration_id: v.migration_id } : {}),
    ...(v.destination_host_id !== undefined ? { destination_host_id: v.destination_host_id } : {}),
    ...(v.mode !== undefined ? { mode: v.mode } : {}), ...(v.progress !== undefined ? { progress: v.progress } : {}),
    ...(v.migrationProgress ? {
      migration: {
        data_processed_bytes: v.migrationProgress.dataProcessedBytes, data_remaining_bytes: v.migrationProgress.dataRemainingBytes,
        dirty_rate_pages_per_sec: v.migrationProgress.dirtyRatePagesPerSec, expected_downtime_ms: v.migrationProgress.expectedDowntimeMs,
        iteration: v.migrationProgress.iteration,
      },
    } : {}),
  };
}

export function maintenanceView(m: MaintenanceStatus): MaintenanceView {
  return {
    host_id: m.hostId, resource_state: m.resourceState, started_at: m.startedAt.toISOString(), allow_cold_migration: m.allowColdMigration,
    job_id: m.jobId, vms_total: m.counts.total, vms_moved: m.counts.moved, vms_remaining: m.counts.remaining, vms: m.vms.map(maintenanceVmView),
  };
}

export function removedHostView(r: RemovedHost): RemovedHostView {
  return { id: r.hostId, uuid: r.uuid, revoked: r.revoked };
}

export function hostResourceStateView(id: number, state: HostResourceStateView["resource_state"]): HostResourceStateView {
  return { id, resource_state: state };
}

export function clusterView(c: ClusterWithSettings): ClusterView {
  return { id: c.id, name: c.name, pod: c.pod, environment: c.environment, settings: c.settings };
}

export function clusterSettingView(clusterId: number, name: string, value: ClusterSettingValue | null): ClusterSettingView {
  return { cluster_id: clusterId, name, value };
}
