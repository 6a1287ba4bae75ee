// Affinity groups in Hyperstack's dialect.
import type { AffinityGroup } from "../../placement/affinity-group-service.js";
import type { AffinityGroupView } from "./affinity-group.schema.js";

export function affinityGroupView(g: AffinityGroup): AffinityGroupView {
  return {
    id: g.id, uuid: g.uuid, name: g.name, type: g.type, strict: g.strict, description: g.description,
    virtual_machine_ids: g.memberVmIds, created_at: g.createdAt.toISOString(),
  };
}
