// The admin's placement dry run: the plan the scheduler would commit, or why it would refuse.
import { Type } from "@sinclair/typebox";
import { CapacityRejection, GpuAssignment, ScorerScore } from "../placement.schema.js";

const VmPlacement = Type.Object({
  index: Type.Integer({ description: "0-based index of the VM in the request's count" }),
  vm_id: Type.Optional(Type.String()),
  host_id: Type.String(),
  host_name: Type.String(),
  vcpus: Type.Integer(),
  memory_mib: Type.Integer(),
  gpus: Type.Array(GpuAssignment),
  numa_node: Type.Optional(Type.Integer({ description: "NUMA node the VM is bound to (GPU-local multi-GPU VMs)" })),
  pinned_cpus: Type.Optional(Type.Array(Type.Integer())),
  scores: Type.Array(ScorerScore),
  total: Type.Number(),
}, { additionalProperties: false });

export const DryRunResult = Type.Union([
  Type.Object({
    ok: Type.Literal(true),
    plan: Type.Object({
      policy: Type.String(),
      seed: Type.Integer(),
      decided_at: Type.String({ format: "date-time" }),
      placements: Type.Array(VmPlacement),
    }, { additionalProperties: false }),
  }, { additionalProperties: false }),
  Type.Object({
    ok: Type.Literal(false),
    rejection: Type.Object({
      message: Type.String(),
      vm_index: Type.Integer({ description: "Which VM of the request could not be placed" }),
      unschedulable: Type.Union([Type.Literal("now"), Type.Literal("never")], { description: "never: no host could ever take it as the fleet is configured; now: capacity is the problem" }),
      hosts: Type.Array(CapacityRejection),
    }, { additionalProperties: false }),
  }, { additionalProperties: false }),
], { description: "The plan that would be committed, or why there is none" });
