// What the admin placement controls answer: a host's resource state, clusters and their overrides.
import { Type, type Static, type TSchema } from "@sinclair/typebox";
import { CLUSTER_SETTING_DEFINITIONS } from "../../placement/host-admin.js";
import { Id } from "../schemas.js";

export const ResourceState = Type.Union([
  Type.Literal("Enabled"), Type.Literal("Disabled"), Type.Literal("PrepareForMaintenance"), Type.Literal("Maintenance"), Type.Literal("ErrorInMaintenance"),
], { description: "Enabled, Disabled (set by PUT), PrepareForMaintenance, Maintenance, ErrorInMaintenance (the maintenance routes')" });

export const MaintenanceBody = Type.Object({
  allow_cold_migration: Type.Optional(Type.Boolean({
    description: "Let VMs that cannot live-migrate (passthrough GPUs) be stopped, moved and started again; without it they block the maintenance",
  })),
}, { additionalProperties: false });

export const MaintenanceVmView = Type.Object({
  vm_id: Id(),
  status: Type.Union([
    Type.Literal("queued"), Type.Literal("migrating"), Type.Literal("moved"), Type.Literal("blocked"), Type.Literal("failed"), Type.Literal("stays"),
  ], { description: "queued: not started yet (or waiting for a transient state); migrating; moved; blocked: cannot move now, the maintenance waits (reason); failed: its migration failed (error); stays: not running, left on the host" }),
  reason: Type.Optional(Type.String()),
  error: Type.Optional(Type.String()),
  job_id: Type.Optional(Id("The migration's job")),
  migration_id: Type.Optional(Id("The migration's record")),
  destination_host_id: Type.Optional(Id("Where it goes")),
  mode: Type.Optional(Type.Union([Type.Literal("live"), Type.Literal("cold")])),
  progress: Type.Optional(Type.Integer({ minimum: 0, maximum: 100, description: "migrating: the migration job's progress (percent)" })),
  migration: Type.Optional(Type.Object({
    data_processed_bytes: Type.Integer({ minimum: 0 }),
    data_remaining_bytes: Type.Integer({ minimum: 0 }),
    dirty_rate_pages_per_sec: Type.Integer({ minimum: 0 }),
    expected_downtime_ms: Type.Integer({ minimum: 0 }),
    iteration: Type.Integer({ minimum: 0 }),
  }, { description: "migrating: the hypervisor's latest sample of the copy (0: not reported)" })),
});
export type MaintenanceVmView = Static<typeof MaintenanceVmView>;

export const MaintenanceView = Type.Object({
  host_id: Id(),
  resource_state: ResourceState,
  started_at: Type.String({ format: "date-time" }),
  allow_cold_migration: Type.Boolean(),
  job_id: Type.Union([Id("The host.maintenance job"), Type.Null()]),
  vms_total: Type.Integer({ minimum: 0 }),
  vms_moved: Type.Integer({ minimum: 0 }),
  vms_remaining: Type.Integer({ minimum: 0, description: "Neither moved nor staying (queued, migrating, blocked, failed)" }),
  vms: Type.Array(MaintenanceVmView),
});
export type MaintenanceView = Static<typeof MaintenanceView>;

export const RemovedHostView = Type.Object({
  id: Id(),
  uuid: Type.String(),
  revoked: Type.Array(Type.String({ description: "Serial of a client certificate revoked with it" })),
});
export type RemovedHostView = Static<typeof RemovedHostView>;

export const HostResourceStateView = Type.Object({ id: Id(), resource_state: ResourceState });
export type HostResourceStateView = Static<typeof HostResourceStateView>;

const settingValue = (kind: "string" | "number", description?: string): TSchema =>
  kind === "number" ? Type.Number(description ? { description } : {}) : Type.String(description ? { description } : {});

export const ClusterView = Type.Object({
  id: Id(),
  name: Type.String(),
  pod: Type.String(),
  environment: Type.String({ description: "The environment's name" }),
  settings: Type.Object(
    Object.fromEntries(CLUSTER_SETTING_DEFINITIONS.map((d) => [d.name, Type.Optional(settingValue(d.type, d.description))])),
    { description: "The cluster's overrides of allocator settings (a setting not named here takes its global value)" },
  ),
});
export type ClusterView = Static<typeof ClusterView>;

export const ClusterSettingView = Type.Object({
  cluster_id: Id(),
  name: Type.String(),
  value: Type.Union([Type.Number(), Type.String(), Type.Null()], { description: "The value now in force for the cluster; null: the override was removed" }),
});
export type ClusterSettingView = Static<typeof ClusterSettingView>;
