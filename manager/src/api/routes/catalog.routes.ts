import { Type } from "@sinclair/typebox";
import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import type { Db } from "../../db/database.js";
import { flavors, images } from "../../db/schema.js";
import { errors, ok } from "../schemas.js";

export const catalogRoutes = (db: Db): FastifyPluginAsyncTypebox => async (app) => {
  app.get("/v1/core/flavors", {
    schema: { tags: ["catalog"], summary: "List flavors", response: { 200: ok({ data: Type.Array(Type.Unknown()) }), ...errors } },
  }, async () => {
    const rows = await db.select().from(flavors).orderBy(flavors.id);
    return {
      status: true as const, message: "Getting flavors success",
      data: rows.map((f) => ({
        id: f.id, name: f.name, cpu: f.vcpus, ram: f.memoryMib / 1024, disk: f.diskGib,
        gpu: f.gpuModel, gpu_count: f.gpuCount, vgpu_type: f.vgpuType || null,
        gpu_share_milli: f.gpuShareMilli || null, host_tags: f.hostTags,
      })),
    };
  });
  app.get("/v1/core/images", {
    schema: { tags: ["catalog"], summary: "List images", response: { 200: ok({ images: Type.Array(Type.Unknown()) }), ...errors } },
  }, async () => {
    const rows = await db.select().from(images).orderBy(images.id);
    return {
      status: true as const, message: "Getting images success",
      images: rows.map((i) => ({ id: i.id, name: i.name, os_type: i.osType, size: i.sizeGib })),
    };
  });
};
