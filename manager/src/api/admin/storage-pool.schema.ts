// What the admin storage pool routes accept and answer.
import { Type, type Static } from "@sinclair/typebox";
import { Id, ResourceName, SingleLineText } from "../schemas.js";

const MAX_CAPACITY_GIB = 1_000_000_000;

export const StoragePoolKind = Type.Union([Type.Literal("local"), Type.Literal("shared")], {
  description: "local: a folder on each host, a volume lives on the host of the VM it was first attached to (Hikube's local class); shared: one path mounted on every host of the cluster, e.g. NFS, its volumes attach anywhere in the cluster (Hikube's replicated class)",
});

const PoolPath = () => SingleLineText({
  minLength: 1, maxLength: 1000,
  description: "Folder of the volumes on the hosts: absolute, or relative to each agent's images directory",
});

export const CreateStoragePoolBody = Type.Object({
  name: ResourceName({ maxLength: 100 }),
  cluster_id: Id("The cluster whose hosts use the pool"),
  kind: StoragePoolKind,
  path: PoolPath(),
  capacity_gib: Type.Integer({ minimum: 0, maximum: MAX_CAPACITY_GIB, description: "What volumes may take in total (GiB)" }),
}, { additionalProperties: false });

export const ChangeStoragePoolBody = Type.Object({
  name: Type.Optional(ResourceName({ maxLength: 100 })),
  path: Type.Optional(PoolPath()),
  capacity_gib: Type.Optional(Type.Integer({ minimum: 0, maximum: MAX_CAPACITY_GIB, description: "Not below what its volumes and root disks hold (409)" })),
}, { additionalProperties: false, minProperties: 1 });

export const StoragePoolView = Type.Object({
  id: Id(),
  name: Type.String(),
  cluster_id: Id(),
  cluster: Type.String(),
  region: Type.String(),
  kind: StoragePoolKind,
  path: Type.String(),
  capacity_gib: Type.Integer(),
  allocated_gib: Type.Integer({ description: "The sizes of its volumes, of the VMs' root disks and of the VM snapshots it holds, summed" }),
  free_gib: Type.Integer(),
  volume_count: Type.Integer(),
  root_disk_count: Type.Integer({ description: "VMs whose root disk (image overlay, ISO boot's blank disk, clone's copy) it holds" }),
  snapshot_count: Type.Integer({ description: "VM snapshots counted here (inside the root disks or boot volumes it holds)" }),
  snapshot_gib: Type.Integer({ description: "GiB those snapshots count in allocated_gib: an estimate while one is being made, then what the agent measured" }),
  created_at: Type.String({ format: "date-time" }),
  updated_at: Type.String({ format: "date-time" }),
}, { additionalProperties: false });
export type StoragePoolView = Static<typeof StoragePoolView>;
