// How the scheduler explains itself (scores, GPUs chosen, hosts refused): Orbit's own shapes,
// shown to admins by every dialect (an instance's placement, the dry run, a 409's rejections).
import { Type } from "@sinclair/typebox";

export const ScorerScore = Type.Object({
  scorer: Type.String(),
  score: Type.Number({ description: "Normalised 0..1" }),
  weight: Type.Number(),
}, { additionalProperties: false });

export const GpuAssignment = Type.Object({
  gpu_id: Type.String(),
  model: Type.String(),
  mode: Type.Union([Type.Literal("passthrough"), Type.Literal("vgpu"), Type.Literal("share")]),
  vgpu_type: Type.Optional(Type.String()),
  share_milli: Type.Optional(Type.Integer()),
}, { additionalProperties: false });

export const CapacityRejection = Type.Object({
  host_id: Type.String(),
  host_name: Type.String(),
  filter: Type.String({ description: "The filter that refused the host" }),
  reason: Type.String(),
  code: Type.Optional(Type.String({ description: "Stable machine code, e.g. gpu_capacity" })),
  unresolvable: Type.Optional(Type.Boolean({ description: "True when freeing capacity would not help (wrong tags, GPU model...)" })),
}, { additionalProperties: false, description: "One host's refusal (admin keys only: it names the host)" });

export const CapacitySummary = Type.Object({
  hosts_refused: Type.Integer(),
  by_filter: Type.Array(Type.Object({ filter: Type.String(), hosts: Type.Integer() }, { additionalProperties: false })),
}, { additionalProperties: false, description: "Refusals counted per filter, with no host identity or capacity" });
