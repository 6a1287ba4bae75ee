// A stored security rule as Hyperstack shows it (Security_Rules_Fields_for_Instance).
import type { Static } from "@sinclair/typebox";
import type { StoredSecurityRule } from "../../security-rules/security-rule-service.js";
import type { SecurityRuleView } from "./security-rule.schema.js";

export function securityRuleView(r: StoredSecurityRule): Static<typeof SecurityRuleView> {
  return {
    id: r.id,
    direction: r.direction,
    ethertype: r.ethertype,
    protocol: r.protocol,
    port_range_min: r.portRangeMin ?? null,
    port_range_max: r.portRangeMax ?? null,
    remote_ip_prefix: r.remoteIpPrefix,
    status: "active",
    created_at: r.createdAt.toISOString(),
  };
}
