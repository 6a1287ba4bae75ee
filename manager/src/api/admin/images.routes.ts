// Admin image management: /v1/admin/images (register from a URL, list, get, delete).
import { Type } from "@sinclair/typebox";
import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import type { ImageService } from "../../catalog/image-service.js";
import { IMAGE_TYPES } from "../../catalog/image-source.js";
import { errors, Id, IdParams, ok, SingleLineText } from "../schemas.js";
import { adminImageView } from "./image.presenter.js";
import { AdminImage } from "./image.schema.js";

const RegisterImageBody = Type.Object({
  name: SingleLineText({ minLength: 1, maxLength: 200 }),
  url: Type.String({ minLength: 1, maxLength: 2048, description: "http or https URL the manager downloads the image from" }),
  checksum: Type.String({ minLength: 1, maxLength: 200, description: "\"sha256:<hex>\" (or md5, sha1, sha512) the download must match" }),
  type: Type.Union(IMAGE_TYPES.map((t) => Type.Literal(t)), { description: "qcow2, raw (stored converted to qcow2) or iso" }),
  region: Type.Optional(SingleLineText({ maxLength: 100, description: "Region (default \"default\"): environments in it may use the image; \"\" for every region" })),
  os_type: Type.Optional(SingleLineText({ minLength: 1, maxLength: 50, description: "linux (default) or windows" })),
  version: Type.Optional(SingleLineText({ maxLength: 100 })),
  description: Type.Optional(SingleLineText({ maxLength: 1000 })),
  is_public: Type.Optional(Type.Boolean({ description: "Whether every account may use it (default: true without account_id, false with one)" })),
  account_id: Type.Optional(Id("The owning account: a non-public image is listed and usable only by it (and admins)")),
  labels: Type.Optional(Type.Array(SingleLineText({ minLength: 1, maxLength: 63 }), { maxItems: 32, uniqueItems: true })),
  bootable: Type.Optional(Type.Boolean({ description: "ISO images: whether a VM may boot from it (default true)" })),
}, { additionalProperties: false });

const ChangeImageBody = Type.Object({
  region: Type.Optional(SingleLineText({ maxLength: 100, description: "A region the cloud knows, or \"\" for every region" })),
  description: Type.Optional(SingleLineText({ maxLength: 1000 })),
  labels: Type.Optional(Type.Array(SingleLineText({ minLength: 1, maxLength: 63 }), { maxItems: 32, uniqueItems: true })),
  is_public: Type.Optional(Type.Boolean({ description: "Whether every account may use it (default: unchanged, or false when account_id is set now)" })),
  account_id: Type.Optional(Type.Union([Id("The owning account"), Type.Null()], { description: "null: owned by no account (then it must be public)" })),
}, { additionalProperties: false, minProperties: 1 });

export const imageAdminRoutes = (images: ImageService): FastifyPluginAsyncTypebox => async (app) => {
  app.post("/v1/admin/images", {
    schema: {
      tags: ["admin"], summary: "Register an image from a URL",
      description: "Stores the image as Downloading and starts its download job; poll the image (download_progress) or the job until Ready or Error.",
      body: RegisterImageBody, response: { 202: ok({ image: AdminImage, job_id: Id("The download job") }), ...errors },
    },
  }, async (req, reply) => {
    const { image, jobId } = await images.register(req.principal, req.body);
    return reply.status(202).send({ status: true as const, message: "Image download started", image: adminImageView(image), job_id: jobId });
  });

  app.get("/v1/admin/images", {
    schema: { tags: ["admin"], summary: "List images (every status)", response: { 200: ok({ count: Type.Integer(), images: Type.Array(AdminImage) }), ...errors } },
  }, async () => {
    const rows = await images.list();
    return { status: true as const, message: "Getting images success", count: rows.length, images: rows.map(adminImageView) };
  });

  app.get("/v1/admin/images/:id", {
    schema: { tags: ["admin"], summary: "Get an image", params: IdParams, response: { 200: ok({ image: AdminImage }), ...errors } },
  }, async (req) => ({ status: true as const, message: "Getting image success", image: adminImageView(await images.get(req.params.id)) }));

  app.patch("/v1/admin/images/:id", {
    schema: {
      tags: ["admin"], summary: "Change an image's region, owner, visibility, description or labels",
      description: "VMs made from the image keep it; only new deploys see the change.",
      params: IdParams, body: ChangeImageBody, response: { 200: ok({ image: AdminImage }), ...errors },
    },
  }, async (req) => ({ status: true as const, message: "Image changed", image: adminImageView(await images.change(req.params.id, req.body)) }));

  app.delete("/v1/admin/images/:id", {
    schema: { tags: ["admin"], summary: "Delete an image no VM uses", params: IdParams, response: { 200: ok({}), ...errors } },
  }, async (req) => {
    await images.delete(req.params.id);
    return { status: true as const, message: "Image deleted" };
  });
};
