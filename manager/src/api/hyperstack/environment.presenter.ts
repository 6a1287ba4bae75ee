// Regions and environments in Hyperstack's dialect (key pairs show their environment this way too).
import type { Static } from "@sinclair/typebox";
import type { EnvironmentQuota } from "../../environments/environment-quota.js";
import type { Environment, Region } from "../../environments/environment-service.js";
import type { EnvironmentView, RegionView, VmQuotaView } from "./environment.schema.js";

// Orbit knows nothing of its regions' energy or network: Hyperstack's "no" answers, stated as such in the schema.
const NOT_GREEN = "NOT_GREEN" as const;

export function environmentView(e: Environment): EnvironmentView {
  return {
    id: e.id, name: e.name, region: e.region,
    features: { network_optimised: false, green_status: NOT_GREEN },
    created_at: e.createdAt.toISOString(),
  };
}

export function regionView(r: Region): RegionView {
  return { id: r.id, name: r.name, description: r.description, country: "", green_status: NOT_GREEN, features: {} };
}

export function vmQuotaView(q: EnvironmentQuota): Static<typeof VmQuotaView> {
  const max = q.currentVms + q.availableVms;
  return {
    status: true, message: `Environment "${q.environment.name}" takes ${q.availableVms} more VM(s)`,
    current_vms: q.currentVms, max_vms: max, available_vms: q.availableVms,
    percentage_used: max === 0 ? 0 : (q.currentVms / max) * 100, cidr: q.cidr,
    flavors: q.flavors.map((f) => ({ id: f.flavor.id, name: f.flavor.name, available_vms: f.availableVms })),
  };
}
