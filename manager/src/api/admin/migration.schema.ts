// Admin migration views (api/admin/migrations.routes.ts).
import { Type } from "@sinclair/typebox";
import { Id } from "../schemas.js";

export const MigrationMode = Type.Union([Type.Literal("live"), Type.Literal("cold"), Type.Literal("auto")], {
  description: "live: the VM keeps running; cold: stopped, moved, started; auto (default): live when it can, cold for passthrough GPU VMs only with allow_cold",
});

export const MigrationReason = Type.Object({
  code: Type.String({ description: "Stable code: no_migration_uri, host_not_up, host_not_enabled, hypervisor_mismatch, cpu_arch_mismatch, different_cluster, vgpu_live_unsupported, vgpu_driver_mismatch, local_storage_cold, or an allocator filter's (cpu_capacity, memory_capacity, gpu_capacity, host_tags...)" }),
  message: Type.String(),
});

export const MigrationHostView = Type.Object({
  host_id: Type.Integer(),
  host_name: Type.String(),
  suitable: Type.Boolean(),
  reasons: Type.Array(MigrationReason, { description: "Why it cannot take the VM; empty when suitable" }),
});

export const MigrationHostsView = Type.Object({
  vm_id: Type.Integer(),
  source_host_id: Type.Integer(),
  mode: Type.Union([Type.Literal("live"), Type.Literal("cold")]),
  storage_motion: Type.Boolean({ description: "The VM's disks are local: a live migration copies them" }),
  hosts: Type.Array(MigrationHostView),
});

export const MigrateBody = Type.Object({
  host_id: Type.Optional(Id("The destination host")),
  host: Type.Optional(Type.Literal("auto", { description: "Let the allocator choose the destination (instead of host_id)" })),
  mode: Type.Optional(MigrationMode),
  storage_motion: Type.Optional(Type.Boolean({ description: "Copy the VM's local disks to the destination during a live migration (libvirt's copy-storage all)" })),
  allow_cold: Type.Optional(Type.Boolean({ description: "With mode auto: a VM that cannot move live (passthrough GPUs) may be stopped and moved cold" })),
}, { additionalProperties: false });

export const MigrationProgressView = Type.Object({
  at: Type.String({ format: "date-time" }),
  elapsed_ms: Type.Integer(),
  data_processed_bytes: Type.Integer(),
  data_remaining_bytes: Type.Integer(),
  data_total_bytes: Type.Integer(),
  dirty_rate_pages_per_sec: Type.Integer(),
  memory_bandwidth_bps: Type.Integer(),
  expected_downtime_ms: Type.Integer(),
  iteration: Type.Integer(),
}, { description: "The latest sample of the copy (libvirt's domjobinfo); 0: not reported" });

export const MigrationView = Type.Object({
  id: Type.Integer(),
  vm_id: Type.Integer(),
  job_id: Type.Union([Type.Integer(), Type.Null()]),
  source_host_id: Type.Integer(),
  destination_host_id: Type.Integer(),
  mode: Type.Union([Type.Literal("live"), Type.Literal("cold")]),
  storage_motion: Type.Boolean(),
  state: Type.String({ description: "running, succeeded, failed or cancelled" }),
  reserved: Type.Object({ vcpus: Type.Integer(), memory_mib: Type.Integer(), disk_gib: Type.Integer() }, { description: "Held on the destination while it runs" }),
  progress: Type.Union([MigrationProgressView, Type.Null()]),
  cancel_requested: Type.Boolean(),
  downtime_ms: Type.Union([Type.Integer(), Type.Null()]),
  total_ms: Type.Union([Type.Integer(), Type.Null()]),
  error: Type.Union([Type.Object({ code: Type.String(), message: Type.String() }), Type.Null()]),
  created_at: Type.String({ format: "date-time" }),
  finished_at: Type.Union([Type.String({ format: "date-time" }), Type.Null()]),
});

export const MigrationStartedView = Type.Object({
  job_id: Type.Integer(),
  migration_id: Type.Integer(),
  destination_host_id: Type.Integer(),
});
