import type { Static } from "@sinclair/typebox";
import { bridgeName, type NetworkUsage } from "../../network/network-service.js";
import type { AdminNetwork } from "./network.schema.js";

export function adminNetworkView(u: NetworkUsage): Static<typeof AdminNetwork> {
  const n = u.network;
  return {
    id: n.id, environment_id: n.environmentId, environment_name: u.environmentName, region_id: n.regionId,
    cidr: n.cidr, prefix_length: Number(n.cidr.split("/")[1]), gateway: n.gateway, bridge: bridgeName(n.id), nameservers: n.nameservers,
    floating_ip_pool: n.floatingCidr, addresses_in_use: u.fixedInUse, floating_ips_in_use: u.floatingInUse,
    created_at: n.createdAt.toISOString(), updated_at: n.updatedAt.toISOString(),
  };
}
