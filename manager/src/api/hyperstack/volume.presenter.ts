// Volumes and their attachments in Hyperstack's dialect.
import type { Static } from "@sinclair/typebox";
import type { Volume, VolumeAttachment, VmVolumeAttachment } from "../../storage/volume-service.js";
import { environmentView } from "./environment.presenter.js";
import type { AttachVolumeView, InstanceVolumeAttachment, VolumeAttachmentView, VolumeView } from "./volume.schema.js";

/** Admins also see where the volume is (its pool, a local volume's host); users see their volume, not the fleet. */
export function volumeView(v: Volume, viewer: { role: "admin" | "user" }): VolumeView {
  const admin = viewer.role === "admin";
  return {
    id: v.id, name: v.name,
    environment: { name: v.environment.name, region: v.environment.region, features: environmentView(v.environment).features },
    description: v.description, volume_type: v.pool.kind, size: v.sizeGib, status: v.status,
    bootable: v.image !== null, image_id: v.image?.id ?? null, os_image: v.image?.name ?? null,
    callback_url: v.callbackUrl || null,
    attachments: v.attachment
      ? [{ id: v.attachment.id, instance_id: v.attachment.vmId, device: v.attachment.device, status: v.attachment.status, protected: v.attachment.protected }]
      : [],
    storage_pool: admin ? v.pool.name : null,
    host: admin ? v.host?.name ?? null : null,
    created_at: v.createdAt.toISOString(), updated_at: v.updatedAt.toISOString(),
  };
}

export function attachVolumeView(a: VolumeAttachment & { volumeId: number }, jobId: number): Static<typeof AttachVolumeView> {
  return { ...volumeAttachmentView(a), job_id: jobId };
}

export function volumeAttachmentView(a: VolumeAttachment & { volumeId: number }): Static<typeof VolumeAttachmentView> {
  return {
    id: a.id, volume_id: a.volumeId, instance_id: a.vmId, device: a.device, status: a.status, protected: a.protected,
    created_at: a.createdAt.toISOString(),
  };
}

export function instanceVolumeAttachmentView(a: VmVolumeAttachment): Static<typeof InstanceVolumeAttachment> {
  return {
    id: a.id, device: a.device, status: a.status, protected: a.protected, created_at: a.createdAt.toISOString(),
    volume: { id: a.volume.id, name: a.volume.name, size: a.volume.sizeGib, description: a.volume.description, bootable: a.volume.bootable, volume_type: a.volume.volumeType },
  };
}
