// What the /v1/core/affinity-groups routes answer.
import { Type, type Static } from "@sinclair/typebox";
import { Id } from "../schemas.js";

export const AffinityGroupView = Type.Object({
  id: Id(),
  uuid: Type.String({ format: "uuid" }),
  name: Type.String(),
  type: Type.Union([Type.Literal("host-affinity"), Type.Literal("host-anti-affinity")]),
  strict: Type.Boolean({ description: "Strict groups are never violated (the deploy is refused); others are a preference" }),
  description: Type.String(),
  virtual_machine_ids: Type.Array(Id(), { description: "Its live (not destroyed) virtual machines" }),
  created_at: Type.String({ format: "date-time" }),
});
export type AffinityGroupView = Static<typeof AffinityGroupView>;
