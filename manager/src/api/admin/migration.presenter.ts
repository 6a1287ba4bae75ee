// Migrations as the admin API shows them, from the service's rows.
import type { Static } from "@sinclair/typebox";
import type { MigrationHosts, MigrationRecord } from "../../migration/migration-service.js";
import type { MigrationHostsView, MigrationView } from "./migration.schema.js";

export function migrationHostsView(h: MigrationHosts): Static<typeof MigrationHostsView> {
  return {
    vm_id: h.vmId, source_host_id: h.sourceHostId, mode: h.mode, storage_motion: h.storageMotion,
    hosts: h.hosts.map((c) => ({ host_id: c.hostId, host_name: c.hostName, suitable: c.suitable, reasons: c.reasons.map((r) => ({ code: r.code, message: r.message })) })),
  };
}

export function migrationView(m: MigrationRecord): Static<typeof MigrationView> {
  const p = m.progress;
  return {
    id: m.id, vm_id: m.vmId, job_id: m.jobId, source_host_id: m.sourceHostId, destination_host_id: m.destinationHostId,
    mode: m.mode, storage_motion: m.storageMotion, state: m.state,
    reserved: { vcpus: m.reservedVcpus, memory_mib: m.reservedMemoryMib, disk_gib: m.reservedDiskGib },
    progress: p ? {
      at: p.at, elapsed_ms: p.elapsedMs, data_processed_bytes: p.dataProcessedBytes, data_remaining_bytes: p.dataRemainingBytes,
      data_total_bytes: p.dataTotalBytes, dirty_rate_pages_per_sec: p.dirtyRatePagesPerSec, memory_bandwidth_bps: p.memoryBandwidthBps,
      expected_downtime_ms: p.expectedDowntimeMs, iteration: p.iteration,
    } : null,
    cancel_requested: m.cancelRequested, downtime_ms: m.downtimeMs, total_ms: m.totalMs,
    error: m.error ?? null, created_at: m.createdAt.toISOString(), finished_at: m.finishedAt?.toISOString() ?? null,
  };
}
