// A VM as Hyperstack clients see it: Orbit's state mapped to Hyperstack's status, power state and
// VM state, and the resolved flavor, image and environment by name.
import type { Static } from "@sinclair/typebox";
import type { StoredPlacement, VmDetails } from "../../vm/vm-details.js";
import type { VmState } from "../../vm/vm-state-machine.js";
import { gpuAssignmentView, scoreView } from "../placement.presenter.js";
import type { Instance, InstancePlacement } from "./instance.schema.js";
import { securityRuleView } from "./security-rule.presenter.js";
import { instanceVolumeAttachmentView } from "./volume.presenter.js";

/** Hyperstack's instance `status`, `power_state` and `vm_state` for an Orbit state. */
export function hyperstackStatus(state: VmState): { status: string; powerState: string; vmState: string } {
  switch (state) {
    case "Creating": return { status: "CREATING", powerState: "NOSTATE", vmState: "building" };
    case "Starting": return { status: "STARTING", powerState: "NOSTATE", vmState: "building" };
    case "Running": return { status: "ACTIVE", powerState: "RUNNING", vmState: "active" };
    case "Stopping": return { status: "SHUTTING_DOWN", powerState: "RUNNING", vmState: "active" };
    case "Stopped": return { status: "SHUTOFF", powerState: "SHUTDOWN", vmState: "stopped" };
    case "Migrating": return { status: "MIGRATING", powerState: "RUNNING", vmState: "active" };
    case "Hibernating": return { status: "HIBERNATING", powerState: "RUNNING", vmState: "active" };
    case "Hibernated": return { status: "HIBERNATED", powerState: "SHUTDOWN", vmState: "shelved_offloaded" };
    case "Reinstalling": return { status: "REBUILDING", powerState: "NOSTATE", vmState: "rebuilding" };
    case "Down": return { status: "HOST_DOWN", powerState: "NOSTATE", vmState: "error" };
    case "Unknown": return { status: "UNKNOWN", powerState: "NOSTATE", vmState: "error" };
    case "Error": return { status: "ERROR", powerState: "NOSTATE", vmState: "error" };
    case "Destroying": return { status: "DELETING", powerState: "NOSTATE", vmState: "deleted" };
    case "Destroyed": return { status: "DELETED", powerState: "NOSTATE", vmState: "deleted" };
  }
}

function placementView(p: StoredPlacement): Static<typeof InstancePlacement> {
  return {
    policy: p.policy, seed: p.seed, host: p.host, total: p.total,
    scores: (p.scores ?? []).map(scoreView), gpus: (p.gpus ?? []).map(gpuAssignmentView),
  };
}

export function instanceView(vm: VmDetails): Static<typeof Instance> {
  const hs = hyperstackStatus(vm.state);
  const f = vm.flavor;
  return {
    id: vm.id,
    uuid: vm.uuid,
    name: vm.name,
    status: hs.status,
    power_state: hs.powerState,
    vm_state: hs.vmState,
    orbit_state: vm.state,
    state_reason: vm.stateReason,
    fixed_ip: vm.fixedIp,
    floating_ip: vm.floatingIp,
    floating_ip_status: vm.floatingIp ? "ATTACHED" : "NOT_ATTACHED",
    environment: {
      id: vm.environment.id, name: vm.environment.name, org_id: null, region: vm.environment.region,
      features: { green_status: null, network_optimised: false },
    },
    image: { name: vm.image.name },
    iso: vm.iso,
    flavor: {
      id: f.id, name: f.name, cpu: f.vcpus, ephemeral: 0, features: f.features, labels: vm.flavorLabels, ram: f.memoryMib / 1024, disk: f.diskGib,
      gpu: f.gpuModel, gpu_count: f.gpuCount, vgpu_type: f.vgpuType || null, gpu_share_milli: f.gpuShareMilli || null,
    },
    keypair: { name: vm.keyName },
    security_rules: vm.securityRules.map(securityRuleView),
    volume_attachments: vm.volumeAttachments.map(instanceVolumeAttachmentView),
    labels: vm.labels,
    run_strategy: vm.runStrategy,
    ha_enabled: vm.haEnabled,
    callback_url: vm.callbackUrl || null,
    contract_id: null,
    enhanced_metrics: { enabled: false },
    features: {},
    locked: false,
    os: vm.image.osType,
    port_randomization: false,
    port_randomization_status: "NOT_APPLICABLE",
    requires_public_ip: false,
    host: vm.host?.name ?? null,
    placement: vm.placement ? placementView(vm.placement) : null,
    created_at: vm.createdAt.toISOString(),
  };
}
