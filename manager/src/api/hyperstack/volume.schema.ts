// What the /v1/core volume routes accept and answer (Hyperstack's volume and volume attachment fields).
import { Type, type Static } from "@sinclair/typebox";
import { MAX_CALLBACK_URL_LENGTH } from "../../callbacks/callback-url.js";
import { Id, MultiLineText, ResourceName, SingleLineText } from "../schemas.js";
import { EnvironmentFeatures } from "./environment.schema.js";

/** Bounded so that (page - 1) * page_size stays a small integer (an SQL offset). */
const MAX_PAGE = 1_000_000;
/** Hyperstack's bound on one volume (GB). */
export const MAX_VOLUME_GB = 1_048_576;

export const VolumeStatus = Type.Union([
  Type.Literal("available"), Type.Literal("attaching"), Type.Literal("in-use"), Type.Literal("detaching"), Type.Literal("error"),
], {
  description: "available (attach it), attaching, in-use (attached), detaching, error",
});

export const CreateVolumeBody = Type.Object({
  name: ResourceName({ maxLength: 50, description: "1-50 characters: letters, digits, . _ -" }),
  environment_name: SingleLineText({ minLength: 1, maxLength: 63, description: "The environment the volume belongs to" }),
  size: Type.Integer({ minimum: 1, maximum: MAX_VOLUME_GB, description: "Size in GB (Orbit counts GiB)" }),
  volume_type: SingleLineText({ minLength: 1, maxLength: 50, description: "local or shared (GET /v1/core/volume-types)" }),
  image_id: Type.Optional(Id("Create a bootable volume of this image (of the environment's region)")),
  description: Type.Optional(MultiLineText({ maxLength: 1000 })),
  callback_url: Type.Optional(SingleLineText({ maxLength: MAX_CALLBACK_URL_LENGTH, description: "Receives the volume's events: created, each status change, deleted (signed; README, Event callbacks)" })),
}, { additionalProperties: false });

export const ListVolumesQuery = Type.Object({
  page: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_PAGE, default: 1 })),
  pageSize: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, default: 50, description: "Hyperstack's spelling of page_size" })),
  page_size: Type.Optional(Type.Integer({ minimum: 1, maximum: 500 })),
  search: Type.Optional(SingleLineText({ maxLength: 100, description: "Part of the name, in any case" })),
  environment: Type.Optional(SingleLineText({ minLength: 1, maxLength: 63, description: "An environment's id or name" })),
}, { additionalProperties: false });

export const VolumeIdParams = Type.Object({ volume_id: Id() }, { additionalProperties: false });

const VolumeIds = Type.Array(Id(), { minItems: 1, maxItems: 16, description: "Volumes of your account in the VM's environment" });
export const AttachVolumesBody = Type.Object({
  volume_ids: VolumeIds,
  protected: Type.Optional(Type.Boolean({ default: false, description: "A protected attachment refuses detach" })),
}, { additionalProperties: false });
export const DetachVolumesBody = Type.Object({ volume_ids: VolumeIds }, { additionalProperties: false });

export const VolumeAttachmentOfVolume = Type.Object({
  id: Id(),
  instance_id: Id(),
  device: Type.String({ description: "The guest device (/dev/vdb) once attached, \"\" before" }),
  status: Type.String({ description: "attaching, attached, detaching" }),
  protected: Type.Boolean(),
}, { additionalProperties: false });

export const VolumeView = Type.Object({
  id: Id(),
  name: Type.String(),
  environment: Type.Object({
    name: Type.String(), region: Type.String(), features: EnvironmentFeatures,
  }, { additionalProperties: false }),
  description: Type.String(),
  volume_type: Type.String({ description: "local or shared: the kind of its storage pool" }),
  size: Type.Integer({ description: "GB" }),
  status: VolumeStatus,
  bootable: Type.Boolean({ description: "Created from an image" }),
  image_id: Type.Union([Type.Integer(), Type.Null()]),
  os_image: Type.Union([Type.String(), Type.Null()], { description: "The image's name, for a bootable volume" }),
  callback_url: Type.Union([Type.String(), Type.Null()]),
  attachments: Type.Array(VolumeAttachmentOfVolume),
  storage_pool: Type.Union([Type.String(), Type.Null()], { description: "Orbit extra: its storage pool's name (admin keys only)" }),
  host: Type.Union([Type.String(), Type.Null()], { description: "Orbit extra: the host a local volume lives on (admin keys only)" }),
  created_at: Type.String({ format: "date-time" }),
  updated_at: Type.String({ format: "date-time" }),
}, { additionalProperties: false });
export type VolumeView = Static<typeof VolumeView>;

export const AttachVolumeView = Type.Object({
  id: Id(),
  volume_id: Id(),
  instance_id: Id(),
  device: Type.String({ description: "\"\" until the attach job is done" }),
  status: Type.String({ description: "attaching, attached, detaching" }),
  protected: Type.Boolean(),
  created_at: Type.String({ format: "date-time" }),
  job_id: Id("Orbit extra: the job doing it (GET /v1/core/jobs/{id})"),
}, { additionalProperties: false });

/** An attachment as an instance shows it (Hyperstack's volume_attachments). */
export const InstanceVolumeAttachment = Type.Object({
  id: Id(),
  device: Type.String(),
  status: Type.String({ description: "attaching, attached, detaching" }),
  protected: Type.Boolean(),
  created_at: Type.String({ format: "date-time" }),
  volume: Type.Object({
    id: Id(), name: Type.String(), size: Type.Integer(), description: Type.String(), bootable: Type.Boolean(), volume_type: Type.String(),
  }, { additionalProperties: false }),
}, { additionalProperties: false });

export const UpdateVolumeBody = Type.Object({
  environment_name: SingleLineText({ minLength: 1, maxLength: 63, description: "The environment to move the volume to: of your account, in the region of the volume's storage pool" }),
}, { additionalProperties: false });

export const VolumeUpdates = Type.Object({
  environment_name: Type.Optional(Type.String({ description: "The volume's new environment; absent when it already was there" })),
}, { additionalProperties: false, description: "The fields the update changed" });

export const VolumeAttachmentIdParams = Type.Object({ volume_attachment_id: Id() }, { additionalProperties: false });

export const UpdateVolumeAttachmentBody = Type.Object({
  protected: Type.Boolean({ description: "A protected attachment refuses detach" }),
}, { additionalProperties: false });

/** An attachment as its update answers it (Hyperstack's Attach_Volume_Fields: no job, nothing is done on the host). */
export const VolumeAttachmentView = Type.Omit(AttachVolumeView, ["job_id"], { additionalProperties: false });

export const VolumeNameParams = Type.Object({ name: SingleLineText({ minLength: 1, maxLength: 200 }) }, { additionalProperties: false });
