// VM snapshots in Hyperstack's shape (SnapshotFields, CreateSnapshotPayload), with Orbit's
// fields: memory, quiesce, the chain (parent_id, current), size_bytes, the reason of an Error.
import { Type, type Static } from "@sinclair/typebox";
import { Id, MultiLineText, SingleLineText } from "../schemas.js";

export const SnapshotView = Type.Object({
  id: Id(),
  name: Type.String(),
  description: Type.String(),
  vm_id: Id("The VM it is a snapshot of"),
  region_id: Id("The region of the VM's environment"),
  size: Type.Integer({ minimum: 0, description: "GB it holds on the host (rounded up; 0 until known or for a snapshot of disks that only pins their blocks)" }),
  size_bytes: Type.Union([Type.Integer({ minimum: 0 }), Type.Null()], { description: "Orbit: bytes it holds on the host as measured when it was taken (its saved memory); null until known" }),
  status: Type.Union([Type.Literal("Creating"), Type.Literal("Ready"), Type.Literal("Reverting"), Type.Literal("Deleting"), Type.Literal("Error")], { description: "Creating, Ready, Reverting, Deleting or Error" }),
  is_image: Type.Boolean({ description: "Always false: snapshots are not images in Orbit" }),
  has_floating_ip: Type.Boolean({ description: "Whether the VM has a floating IP now" }),
  labels: Type.Array(Type.String()),
  memory: Type.Boolean({ description: "Orbit: holds the VM's running state: a revert leaves it Running (else Stopped)" }),
  quiesce: Type.Boolean({ description: "Orbit: the guest's filesystems were frozen through its guest agent while it was taken" }),
  parent_id: Type.Union([Id(), Type.Null()], { description: "Orbit: the snapshot it was taken on top of (null for the first of its VM)" }),
  current: Type.Boolean({ description: "Orbit: the VM's current snapshot (the last taken or reverted to): the parent of its next one" }),
  error: Type.Union([Type.String(), Type.Null()], { description: "Orbit: why it is in Error (or why its last revert failed)" }),
  created_at: Type.String({ format: "date-time" }),
  updated_at: Type.String({ format: "date-time" }),
});
export type SnapshotView = Static<typeof SnapshotView>;

const NullableText = (description: string) => Type.Union([Type.String(), Type.Null()], { description });

/** Hyperstack's SnapshotRetrieveFields: the snapshot with its VM's names (labels as one string there). */
export const SnapshotDetailView = Type.Composite([
  Type.Omit(SnapshotView, ["labels"]),
  Type.Object({
    labels: Type.String({ description: "Hyperstack's retrieve shows labels as one string: always empty (Orbit keeps none)" }),
    region: Type.String({ description: "The region's name" }),
    vm_name: Type.String(),
    vm_status: Type.String({ description: "The VM's status as the instance shows it (ACTIVE, SHUTOFF...)" }),
    vm_flavor: Type.String(),
    vm_image: Type.String(),
    vm_keypair: NullableText("The VM's key pair (null: none)"),
    vm_environment: Type.String(),
    custom_image: NullableText("Always null: snapshots are not made into images in Orbit"),
    volume_id: NullableText("Always null: a snapshot covers all of the VM's disks"),
    volume_name: NullableText("Always null: a snapshot covers all of the VM's disks"),
  }),
]);
export type SnapshotDetailView = Static<typeof SnapshotDetailView>;

export const CreateSnapshotBody = Type.Object({
  name: SingleLineText({ minLength: 1, maxLength: 100, description: "Unique among the account's snapshots" }),
  description: MultiLineText({ maxLength: 1000 }),
  labels: Type.Optional(Type.Array(SingleLineText({ maxLength: 100 }), { maxItems: 0, description: "Hyperstack's labels: not supported by Orbit (must be empty)" })),
  memory: Type.Optional(Type.Boolean({ default: false, description: "Orbit: include the running VM's memory and device state (a revert resumes it running). Refused for a stopped VM (400) and a VM with a GPU (409)" })),
  quiesce: Type.Optional(Type.Boolean({ default: false, description: "Orbit: freeze the guest's filesystems through its guest agent while the disks are snapshotted (needs a guest agent: the job fails otherwise; not with memory)" })),
}, { additionalProperties: false });

export const ListSnapshotsQuery = Type.Object({
  page: Type.Optional(Type.Integer({ minimum: 1, maximum: 1_000_000, default: 1 })),
  pageSize: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, default: 50, description: "Hyperstack's spelling of page_size" })),
  page_size: Type.Optional(Type.Integer({ minimum: 1, maximum: 500 })),
  search: Type.Optional(SingleLineText({ maxLength: 100, description: "A snapshot's id, or part of its name in any case" })),
}, { additionalProperties: false });

export const SnapshotNameParams = Type.Object({ name: SingleLineText({ minLength: 1, maxLength: 100 }) }, { additionalProperties: false });
