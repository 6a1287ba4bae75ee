// What GET /v1/core/jobs/{id} answers (Hyperstack's job resource, with Orbit's fields). Response
// objects set no additionalProperties: the serializer drops unnamed fields anyway, and inside a
// union (T | null) `false` would turn a stray field into a 500 instead.
import { Type, type Static } from "@sinclair/typebox";
import type { JobResult } from "../../jobs/job-runner.js";
import { Id } from "../schemas.js";

const DateTime = () => Type.String({ format: "date-time" });

export const JobResultView = Type.Object({
  host_id: Type.Optional(Id("vm.deploy: the host that runs the VM (admin keys only)")),
  skipped: Type.Optional(Type.String({ description: "vm.deploy: why nothing was deployed (the VM was deleted or failed while the job waited)" })),
  already: Type.Optional(Type.Boolean({ description: "vm.destroy: the VM was destroyed already" })),
  image_name: Type.Optional(Type.String({ description: "vm.reinstall: the image the root disk was made afresh from" })),
  cloned_from: Type.Optional(Id("vm.clone: the VM whose root disk was copied")),
  key_name: Type.Optional(Type.String({ description: "vm.reset-ssh-key: the key pair now on the VM" })),
  image_id: Type.Optional(Id("image.download: the image it made Ready")),
  format: Type.Optional(Type.String({ description: "image.download: the stored format (qcow2 or iso)" })),
  size_bytes: Type.Optional(Type.Integer({ minimum: 0, description: "image.download: the stored file's size in bytes; vm.snapshot.create: the snapshot's" })),
  snapshot_id: Type.Optional(Id("vm.snapshot.*: the snapshot it made, reverted to or deleted")),
  vm_state: Type.Optional(Type.String({ description: "vm.snapshot.revert: the VM's state after it (Running for a memory snapshot, else Stopped)" })),
  created_bytes: Type.Optional(Type.Integer({ minimum: 0, description: "vm.snapshot.create: bytes the VM's disk files grew by across it (0: not measured, e.g. a retried create)" })),
  pool_gib: Type.Optional(Type.Integer({ minimum: 0, description: "vm.snapshot.create: GiB its storage pool counts for it (the measure, rounded up; absent: no pool)" })),
  pool_full: Type.Optional(Type.String({ description: "vm.snapshot.create: it measured more than its storage pool had left, so it is counted up to the pool's capacity only" })),
  resource_state: Type.Optional(Type.String({ description: "host.maintenance: the host's resource state it ended in (Maintenance or ErrorInMaintenance)" })),
  scaled: Type.Optional(Type.Object({
    vcpus: Type.Integer({ minimum: 1 }),
    memory_mib: Type.Integer({ minimum: 1 }),
  }, { description: "vm.scale: the size the running VM now has (a live resize)" })),
}, { description: "What the job reported when it succeeded; which fields depends on its kind" });
export type JobResultView = Static<typeof JobResultView>;

// The response serializer drops what its schema does not name: a JobResult field missing from
// JobResultView would vanish from the answer, so that fails to compile here.
type Unnamed = Exclude<keyof JobResult, keyof JobResultView>;
const _everyResultFieldNamed: [Unnamed] extends [never] ? true : Unnamed = true;

export const JobView = Type.Object({
  id: Id(),
  uuid: Type.String({ format: "uuid" }),
  kind: Type.String({ description: "vm.deploy, vm.destroy, vm.start, vm.reinstall, vm.clone, vm.reset-ssh-key, vm.scale, vm.snapshot.*, volume.*, image.download..." }),
  status: Type.Union([Type.Literal("pending"), Type.Literal("running"), Type.Literal("succeeded"), Type.Literal("failed")]),
  progress: Type.Integer({ minimum: 0, maximum: 100 }),
  attempts: Type.Integer({ minimum: 0 }),
  vm_id: Type.Union([Id(), Type.Null()]),
  volume_id: Type.Union([Id(), Type.Null()], { description: "The volume a volume.attach or volume.detach job works on" }),
  result: Type.Union([JobResultView, Type.Null()], { description: "Set when the job succeeded" }),
  error: Type.Union([Type.Object({
    code: Type.String({ description: "Orbit's error code (README, Errors)" }),
    message: Type.String(),
    retryable: Type.Boolean(),
  }), Type.Null()], { description: "The last attempt's error: final once the job failed" }),
  created_at: DateTime(),
  updated_at: DateTime(),
  finished_at: Type.Union([DateTime(), Type.Null()]),
});
export type JobView = Static<typeof JobView>;
