// Hosts as the admin API shows them, field by field from HostService's camelCase overview.
import type { Static } from "@sinclair/typebox";
import type { HostOverview } from "../../hosts/host-service.js";
import type { AdminHost } from "./host.schema.js";

export function hostView(h: HostOverview): Static<typeof AdminHost> {
  const c = h.capacity;
  return {
    id: h.id,
    uuid: h.uuid,
    name: h.name,
    environment: h.environment,
    cluster: h.cluster,
    state: h.state,
    ha_reason: h.haReason,
    resource_state: h.resourceState,
    hypervisor: h.hypervisor,
    driver: h.driver,
    cpu_model: h.cpuModel,
    tags: h.tags,
    last_heartbeat_at: h.lastHeartbeatAt?.toISOString() ?? null,
    connected_manager_id: h.connectedManagerId,
    agent_version: h.agentVersion,
    hypervisor_version: h.hypervisorVersion,
    migration_uri: h.migrationUri,
    cluster_address: h.clusterAddress,
    discovery_warnings: h.discoveryWarnings,
    capacity: {
      cpus: c.cpus,
      sockets: c.sockets,
      cores_per_socket: c.coresPerSocket,
      threads_per_core: c.threadsPerCore,
      memory_mib: c.memoryMib,
      memory_reserve_mib: c.memoryReserveMib,
      numa_cells: c.numaCells.map((n) => ({ id: n.id, cpus: n.cpus, memory_mib: n.memoryMib })),
    },
    allocated: { vcpus: h.allocated.vcpus, memory_mib: h.allocated.memoryMib, vms: h.allocated.vms },
    unmanaged_domains: h.unmanagedDomains.map((u) => ({ uuid: u.uuid, name: u.name, power_state: u.powerState, seen_at: u.seenAt.toISOString() })),
    gpus: h.gpus.map((g) => ({
      id: g.id,
      pci_address: g.pciAddress,
      uuid: g.uuid,
      model: g.model,
      memory_mib: g.memoryMib,
      numa_node: g.numaNode,
      nvlink_peers: g.nvlinkPeers,
      vgpu_types: g.vgpuTypes.map((t) => ({
        type_id: t.typeId, name: t.name, available_instances: t.availableInstances,
        max_instances: t.maxInstances, framebuffer_mib: t.framebufferMib,
      })),
      present: g.present,
      allocations: g.allocations.map((a) => ({ vm_id: a.vmId, mode: a.mode, vgpu_type: a.vgpuType, share_milli: a.shareMilli })),
    })),
  };
}
