// Hyperstack's instance, as /v1/core/virtual-machines answers it (plus Orbit's orbit_state, and
// host and placement for admin keys).
import { Type } from "@sinclair/typebox";
import { GpuAssignment, ScorerScore } from "../placement.schema.js";

/** A VM's placement as admins see it (users get null). */
export const InstancePlacement = Type.Union([Type.Null(), Type.Object({
  policy: Type.String(),
  seed: Type.Integer(),
  host: Type.String(),
  total: Type.Number(),
  scores: Type.Array(ScorerScore),
  gpus: Type.Array(GpuAssignment),
}, { additionalProperties: false })], { description: "How the scheduler chose the host (admin keys only; null for users)" });

export const InstanceFlavor = Type.Object({
  name: Type.String(),
  cpu: Type.Integer({ description: "vCPUs" }),
  ram: Type.Number({ description: "Memory in GiB" }),
  disk: Type.Integer({ description: "Root disk in GiB" }),
  gpu: Type.String({ description: "GPU model (\"\" without GPUs)" }),
  gpu_count: Type.Integer({ description: "Whole GPUs passed through" }),
  vgpu_type: Type.Union([Type.String(), Type.Null()]),
  gpu_share_milli: Type.Union([Type.Integer(), Type.Null()]),
}, { additionalProperties: false });

export const Instance = Type.Object({
  id: Type.Integer(),
  uuid: Type.String(),
  name: Type.String(),
  status: Type.String({ description: "Hyperstack status: CREATING, ACTIVE, SHUTOFF, ERROR, DELETING..." }),
  power_state: Type.String({ description: "Hyperstack power state: NOSTATE, RUNNING, SHUTDOWN" }),
  vm_state: Type.String({ description: "Hyperstack VM state: building, active, stopped, error, deleted..." }),
  orbit_state: Type.String({ description: "Orbit's own state machine state" }),
  state_reason: Type.String(),
  fixed_ip: Type.Union([Type.String(), Type.Null()]),
  floating_ip: Type.Union([Type.String(), Type.Null()]),
  floating_ip_status: Type.String({ description: "NOT_ATTACHED (floating IPs are not supported yet)" }),
  environment: Type.Object({ name: Type.String() }, { additionalProperties: false }),
  image: Type.Object({ name: Type.String() }, { additionalProperties: false }),
  flavor: InstanceFlavor,
  keypair: Type.Object({ name: Type.Union([Type.String(), Type.Null()]) }, { additionalProperties: false }),
  security_rules: Type.Tuple([], { description: "Always empty: security rules are not supported yet" }),
  volume_attachments: Type.Tuple([], { description: "Always empty: volumes are not supported yet" }),
  labels: Type.Array(Type.String()),
  callback_url: Type.Union([Type.String(), Type.Null()]),
  host: Type.Union([Type.String(), Type.Null()], { description: "The host's name (admin keys only; null for users)" }),
  placement: InstancePlacement,
  created_at: Type.String({ format: "date-time" }),
}, { additionalProperties: false });
