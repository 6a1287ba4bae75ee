// Hyperstack's instance, as /v1/core/virtual-machines answers it (plus Orbit's orbit_state, and
// host and placement for admin keys).
import { Type } from "@sinclair/typebox";
import { GpuAssignment, ScorerScore } from "../placement.schema.js";
import { FlavorFeatures, Label } from "./catalog.schema.js";

/** KubeVirt's run strategies (vm/vm-lifecycle-options.ts), spelled out so that their static type is the union. */
export const RunStrategyValue = Type.Union([Type.Literal("Always"), Type.Literal("RerunOnFailure"), Type.Literal("Manual"), Type.Literal("Halted")]);
import { SecurityRuleView } from "./security-rule.schema.js";
import { InstanceVolumeAttachment } from "./volume.schema.js";

/** A VM's placement as admins see it (users get null). */
export const InstancePlacement = Type.Union([Type.Null(), Type.Object({
  policy: Type.String(),
  seed: Type.Integer(),
  host: Type.String(),
  total: Type.Number(),
  scores: Type.Array(ScorerScore),
  gpus: Type.Array(GpuAssignment),
}, { additionalProperties: false })], { description: "How the scheduler chose the host (admin keys only; null for users)" });

/** The spec's free-form `features`: a map Orbit has nothing to put in yet (always {}). */
const NoFeatures = Type.Object({}, { additionalProperties: Type.String(), maxProperties: 0, description: "Always {}: Orbit has no features to list here yet" });

export const InstanceFlavor = Type.Object({
  id: Type.Integer(),
  name: Type.String(),
  cpu: Type.Integer({ description: "vCPUs" }),
  ram: Type.Number({ description: "Memory in GiB" }),
  disk: Type.Integer({ description: "Root disk in GiB" }),
  gpu: Type.String({ description: "GPU model (\"\" without GPUs)" }),
  gpu_count: Type.Integer({ description: "Whole GPUs passed through" }),
  ephemeral: Type.Integer({ description: "Ephemeral disk in GiB: always 0 (Orbit flavors have none)" }),
  features: FlavorFeatures,
  labels: Type.Array(Label, { description: "The flavor's labels (set by admins)" }),
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
  floating_ip_status: Type.String({ description: "ATTACHED when the VM has a floating IP, else NOT_ATTACHED" }),
  environment: Type.Object({
    id: Type.Integer(),
    name: Type.String(),
    org_id: Type.Union([Type.Integer(), Type.Null()], { description: "null: Orbit's environments belong to no organization" }),
    region: Type.String(),
    features: Type.Object({
      green_status: Type.Union([Type.String(), Type.Null()]),
      network_optimised: Type.Boolean(),
    }, { additionalProperties: false, description: "What Orbit knows of the environment's features: nothing yet (null, false)" }),
  }, { additionalProperties: false }),
  image: Type.Object({ name: Type.String() }, { additionalProperties: false }),
  iso: Type.Union([Type.Object({ id: Type.Integer(), name: Type.String() }, { additionalProperties: false }), Type.Null()], {
    description: "Orbit: the ISO image in the VM's cdrom (POST .../attach-iso), null when empty",
  }),
  flavor: InstanceFlavor,
  keypair: Type.Object({ name: Type.Union([Type.String(), Type.Null()]) }, { additionalProperties: false }),
  security_rules: Type.Array(SecurityRuleView, { description: "The VM's firewall rules, oldest first" }),
  volume_attachments: Type.Array(InstanceVolumeAttachment, { description: "Volumes attached (or being attached or detached), oldest first" }),
  labels: Type.Array(Type.String()),
  run_strategy: Type.Union([RunStrategyValue, Type.Null()], {
    description: "Orbit: KubeVirt's run strategy (null: none). Halted VMs are created stopped; Always restarts the VM when its domain "
      + "stops without an API call, RerunOnFailure when it crashes; both are restarted on another host when theirs is lost. A stop "
      + "of an Always VM makes it Halted, a start of a Halted VM Always (KubeVirt)",
  }),
  ha_enabled: Type.Boolean({ description: "Orbit: HA: restarted on another host when its host is declared Down (shared disks only), and on its host when its domain stops without an API call" }),
  callback_url: Type.Union([Type.String(), Type.Null()]),
  contract_id: Type.Union([Type.Integer(), Type.Null()], { description: "null: Orbit has no contracts" }),
  enhanced_metrics: Type.Object({ enabled: Type.Boolean() }, { additionalProperties: false, description: "enabled: false (enhanced monitoring is not supported yet)" }),
  features: NoFeatures,
  locked: Type.Boolean({ description: "false: VM locks are not supported yet" }),
  os: Type.String({ description: "The image's OS type (linux, windows)" }),
  port_randomization: Type.Boolean({ description: "false: without floating IPs there are no ports to randomize" }),
  port_randomization_status: Type.String({ description: "NOT_APPLICABLE without a floating IP" }),
  requires_public_ip: Type.Boolean({ description: "false: Orbit VMs need no public IP" }),
  host: Type.Union([Type.String(), Type.Null()], { description: "The host's name (admin keys only; null for users)" }),
  placement: InstancePlacement,
  created_at: Type.String({ format: "date-time" }),
}, { additionalProperties: false });
