// Admin placement controls in Orbit's admin dialect.
import type { ClusterSettingValue, ClusterWithSettings } from "../../placement/host-admin.js";
import type { ClusterSettingView, ClusterView, HostResourceStateView } from "./host-admin.schema.js";

export function hostResourceStateView(id: number, state: HostResourceStateView["resource_state"]): HostResourceStateView {
  return { id, resource_state: state };
}

export function clusterView(c: ClusterWithSettings): ClusterView {
  return { id: c.id, name: c.name, pod: c.pod, environment: c.environment, settings: c.settings };
}

export function clusterSettingView(clusterId: number, name: string, value: ClusterSettingValue | null): ClusterSettingView {
  return { cluster_id: clusterId, name, value };
}
