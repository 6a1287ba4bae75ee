// Volumes of the caller's account: Hyperstack's /v1/core/volumes, /v1/core/volume-types and the
// attach-volumes / detach-volumes actions of a VM (each volume's attach or detach is a job), and
// /v1/core/volume-attachments (the protected flag).
import { Type } from "@sinclair/typebox";
import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import type { VolumeService } from "../../storage/volume-service.js";
import { errors, IdParams, ok } from "../schemas.js";
import { NameAvailability } from "./name-availability.schema.js";
import { attachVolumeView, volumeAttachmentView, volumeView } from "./volume.presenter.js";
import {
  AttachVolumesBody, AttachVolumeView, CreateVolumeBody, DetachVolumesBody, ListVolumesQuery, UpdateVolumeAttachmentBody, UpdateVolumeBody,
  VolumeAttachmentIdParams, VolumeAttachmentView, VolumeIdParams, VolumeNameParams, VolumeUpdates, VolumeView,
} from "./volume.schema.js";

const tags = ["volume"];

export const volumeRoutes = (volumes: VolumeService): FastifyPluginAsyncTypebox => async (app) => {
  app.get("/v1/core/volume-types", {
    schema: {
      tags, summary: "List volume types",
      description: "The kinds of storage pools there are: local (a folder on each host; Hikube's local class) and shared (one path mounted on every host of a cluster, e.g. NFS; Hikube's replicated class).",
      response: { 200: ok({ volume_types: Type.Array(Type.String()) }), ...errors },
    },
  }, async () => ({ status: true as const, message: "Getting volume types success", volume_types: await volumes.volumeTypes() }));

  app.get("/v1/core/volumes", {
    schema: {
      tags, summary: "List volumes", querystring: ListVolumesQuery,
      response: { 200: ok({ volumes: Type.Array(VolumeView), count: Type.Integer({ description: "Volumes matching, on all pages" }), page: Type.Integer(), page_size: Type.Integer() }), ...errors },
    },
  }, async (req) => {
    const page = req.query.page ?? 1;
    const pageSize = req.query.page_size ?? req.query.pageSize ?? 50;
    const { volumes: list, total } = await volumes.list(req.principal, { page, pageSize, search: req.query.search, environment: req.query.environment });
    return { status: true as const, message: "Getting volumes success", volumes: list.map((v) => volumeView(v, req.principal)), count: total, page, page_size: pageSize };
  });

  app.post("/v1/core/volumes", {
    schema: {
      tags, summary: "Create a volume",
      description: "Reserves its size in a storage pool of its type in the environment's region (409 naming the pool when none has room). A local volume is created on the host of the VM it is first attached to.",
      body: CreateVolumeBody, response: { 200: ok({ volume: VolumeView }), ...errors },
    },
  }, async (req) => {
    const b = req.body;
    const v = await volumes.create(req.principal, {
      name: b.name, environmentName: b.environment_name, sizeGib: b.size, volumeType: b.volume_type,
      imageId: b.image_id, description: b.description, callbackUrl: b.callback_url,
    });
    return { status: true as const, message: "Volume created", volume: volumeView(v, req.principal) };
  });

  app.get("/v1/core/volumes/:volume_id", {
    schema: { tags, summary: "Get a volume", params: VolumeIdParams, response: { 200: ok({ volume: VolumeView }), ...errors } },
  }, async (req) => ({ status: true as const, message: "Getting volume success", volume: volumeView(await volumes.get(req.principal, req.params.volume_id), req.principal) }));

  app.get("/v1/core/volume/name-availability/:name", {
    schema: {
      tags, summary: "Check a volume name", description: "Whether your account has no volume of this name yet (names need not be unique; this avoids look-alikes).",
      params: VolumeNameParams, response: { 200: NameAvailability, ...errors },
    },
  }, async (req) => {
    const available = await volumes.nameAvailable(req.principal, req.params.name);
    return {
      status: true as const, name: req.params.name, available,
      message: available ? "Name is available" : `Your account already has a volume named "${req.params.name}"`,
    };
  });

  app.patch("/v1/core/volumes/:volume_id", {
    schema: {
      tags, summary: "Move a volume to another environment",
      description: "Refused (409) while it is attached; the target environment (404 when unknown) must be in the region of the volume's storage pool (400 otherwise). Its data stays where it is.",
      params: VolumeIdParams, body: UpdateVolumeBody, response: { 200: ok({ volume: VolumeView, updates: VolumeUpdates }), ...errors },
    },
  }, async (req) => {
    const { volume, changed } = await volumes.changeEnvironment(req.principal, req.params.volume_id, req.body.environment_name);
    return {
      status: true as const, message: changed ? "Volume updated" : "Volume unchanged: it is in that environment",
      volume: volumeView(volume, req.principal), updates: changed ? { environment_name: volume.environment.name } : {},
    };
  });

  app.delete("/v1/core/volumes/:volume_id", {
    schema: { tags, summary: "Delete a volume", description: "Refused (409) while it is attached.", params: VolumeIdParams, response: { 200: ok({}), ...errors } },
  }, async (req) => {
    await volumes.delete(req.principal, req.params.volume_id);
    return { status: true as const, message: "Volume deleted" };
  });

  app.post("/v1/core/virtual-machines/:id/attach-volumes", {
    schema: {
      tags: ["volume attachment"], summary: "Attach volumes to a virtual machine",
      description: "Hot when the VM is Running, to its definition when Stopped; one job per volume. A volume attaches to one VM at a time; a local volume only to VMs on the host it lives on.",
      params: IdParams, body: AttachVolumesBody, response: { 200: ok({ volume_attachments: Type.Array(AttachVolumeView) }), ...errors },
    },
  }, async (req) => {
    const { attachments, jobIds } = await volumes.attach(req.principal, req.params.id, req.body.volume_ids, req.body.protected ?? false);
    return { status: true as const, message: "Attaching volumes", volume_attachments: attachments.map((a, i) => attachVolumeView(a, jobIds[i]!)) };
  });

  app.post("/v1/core/virtual-machines/:id/detach-volumes", {
    schema: {
      tags: ["volume attachment"], summary: "Detach volumes from a virtual machine",
      params: IdParams, body: DetachVolumesBody, response: { 200: ok({ volume_attachments: Type.Array(AttachVolumeView) }), ...errors },
    },
  }, async (req) => {
    const { attachments, jobIds } = await volumes.detach(req.principal, req.params.id, req.body.volume_ids);
    return { status: true as const, message: "Detaching volumes", volume_attachments: attachments.map((a, i) => attachVolumeView(a, jobIds[i]!)) };
  });

  app.patch("/v1/core/volume-attachments/:volume_attachment_id", {
    schema: {
      tags: ["volume attachment"], summary: "Protect or unprotect a volume attachment",
      description: "A protected attachment refuses detach (409) until unprotected.",
      params: VolumeAttachmentIdParams, body: UpdateVolumeAttachmentBody, response: { 200: ok({ volume_attachments: Type.Array(VolumeAttachmentView) }), ...errors },
    },
  }, async (req) => {
    const a = await volumes.setAttachmentProtected(req.principal, req.params.volume_attachment_id, req.body.protected);
    return { status: true as const, message: "Volume attachment updated", volume_attachments: [volumeAttachmentView(a)] };
  });
};
