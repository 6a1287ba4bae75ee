// A host as GET /v1/admin/hosts answers it: state, capacity, what is allocated, GPUs.
import { Type } from "@sinclair/typebox";

const VgpuType = Type.Object({
  type_id: Type.String(),
  name: Type.String(),
  available_instances: Type.Integer(),
  max_instances: Type.Integer(),
  framebuffer_mib: Type.Integer(),
}, { additionalProperties: false });

const HostGpu = Type.Object({
  id: Type.Integer(),
  pci_address: Type.String(),
  uuid: Type.String(),
  model: Type.String(),
  memory_mib: Type.Integer(),
  numa_node: Type.Integer({ description: "-1 when unknown" }),
  nvlink_peers: Type.Array(Type.String()),
  vgpu_types: Type.Array(VgpuType),
  present: Type.Boolean({ description: "False once the host stopped reporting it" }),
  allocations: Type.Array(Type.Object({
    vm_id: Type.Integer(),
    mode: Type.Union([Type.Literal("passthrough"), Type.Literal("vgpu"), Type.Literal("share")]),
    vgpu_type: Type.String(),
    share_milli: Type.Integer(),
  }, { additionalProperties: false })),
}, { additionalProperties: false });

export const AdminHost = Type.Object({
  id: Type.Integer(),
  uuid: Type.String(),
  name: Type.String(),
  environment: Type.String(),
  cluster: Type.String(),
  state: Type.String({ description: "Connecting, Up, Suspect (missed its heartbeats: HA investigates), Alert (investigated, inconclusive: nothing restarted) or Down (fenced: HA VMs restarted elsewhere)" }),
  ha_reason: Type.String({ description: "Why HA put the host in its state; empty when Up" }),
  resource_state: Type.String({ description: "Enabled, Disabled or Maintenance (set by the admin)" }),
  hypervisor: Type.String(),
  driver: Type.String(),
  cpu_model: Type.String(),
  tags: Type.Array(Type.String()),
  last_heartbeat_at: Type.Union([Type.String({ format: "date-time" }), Type.Null()]),
  connected_manager_id: Type.Union([Type.String(), Type.Null()], { description: "The manager whose gRPC stream the host's agent holds (GET /v1/admin/managers); null when none" }),
  agent_version: Type.String(),
  hypervisor_version: Type.String({ description: "The hypervisor's version as the agent reports it (libvirt: QEMU's and libvirt's)" }),
  migration_uri: Type.String({ description: "The hypervisor URI other hosts migrate to this one under; empty: it cannot be a migration destination" }),
  cluster_address: Type.String({ description: "The host's address on the cluster network (the migration stream goes there); empty: none" }),
  discovery_warnings: Type.Array(Type.String()),
  capacity: Type.Object({
    cpus: Type.Integer(),
    sockets: Type.Integer(),
    cores_per_socket: Type.Integer(),
    threads_per_core: Type.Integer(),
    memory_mib: Type.Integer(),
    memory_reserve_mib: Type.Integer(),
    numa_cells: Type.Array(Type.Object({ id: Type.Integer(), cpus: Type.Array(Type.Integer()), memory_mib: Type.Integer() }, { additionalProperties: false })),
  }, { additionalProperties: false }),
  allocated: Type.Object({ vcpus: Type.Integer(), memory_mib: Type.Integer(), vms: Type.Integer() }, { additionalProperties: false }),
  unmanaged_domains: Type.Array(Type.Object({
    uuid: Type.String(), name: Type.String(), power_state: Type.String(), seen_at: Type.String({ format: "date-time" }),
  }, { additionalProperties: false }), { description: "Domains on the host that are not Orbit's VMs" }),
  gpus: Type.Array(HostGpu),
}, { additionalProperties: false });

/** One neighbour's probe of a lost host (HA evidence). */
export const HostProbeEvidence = Type.Object({
  neighbour_host_id: Type.Integer(),
  neighbour: Type.String(),
  answered: Type.Boolean({ description: "False when the neighbour could not be asked (detail says why)" }),
  reachable: Type.Boolean(),
  storage_heartbeat_seen: Type.Boolean(),
  storage_heartbeat_age_ms: Type.Integer({ description: "-1: not seen" }),
  detail: Type.String(),
}, { additionalProperties: false });

/** A host with HA's view of it (GET /v1/admin/hosts/{id}). */
export const AdminHostDetail = Type.Object({
  host: AdminHost,
  ha: Type.Object({
    state: Type.String(),
    reason: Type.String(),
    storage_heartbeat_dir: Type.String({ description: "Empty: the host has no storage heartbeat and is never declared Down automatically" }),
    checked_at: Type.Union([Type.String({ format: "date-time" }), Type.Null()], { description: "When HA last investigated it" }),
    evidence: Type.Array(HostProbeEvidence, { description: "The last investigation's probes" }),
  }, { additionalProperties: false }),
}, { additionalProperties: false });
