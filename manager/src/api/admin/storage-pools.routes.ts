// Admin storage pools: /v1/admin/storage-pools (create, list, get, change, delete).
import { Type } from "@sinclair/typebox";
import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import type { StoragePoolService } from "../../storage/storage-pool-service.js";
import { errors, IdParams, ok } from "../schemas.js";
import { storagePoolView } from "./storage-pool.presenter.js";
import { ChangeStoragePoolBody, CreateStoragePoolBody, StoragePoolView } from "./storage-pool.schema.js";

const tags = ["admin"];

export const storagePoolRoutes = (pools: StoragePoolService): FastifyPluginAsyncTypebox => async (app) => {
  app.get("/v1/admin/storage-pools", {
    schema: { tags, summary: "List storage pools", response: { 200: ok({ count: Type.Integer(), storage_pools: Type.Array(StoragePoolView) }), ...errors } },
  }, async () => {
    const rows = await pools.list();
    return { status: true as const, message: "Getting storage pools success", count: rows.length, storage_pools: rows.map(storagePoolView) };
  });

  app.post("/v1/admin/storage-pools", {
    schema: { tags, summary: "Create a storage pool", body: CreateStoragePoolBody, response: { 201: ok({ storage_pool: StoragePoolView }), ...errors } },
  }, async (req, reply) => {
    const b = req.body;
    const p = await pools.create({ name: b.name, clusterId: b.cluster_id, kind: b.kind, path: b.path, capacityGib: b.capacity_gib });
    return reply.status(201).send({ status: true as const, message: "Storage pool created", storage_pool: storagePoolView(p) });
  });

  app.get("/v1/admin/storage-pools/:id", {
    schema: { tags, summary: "Get a storage pool", params: IdParams, response: { 200: ok({ storage_pool: StoragePoolView }), ...errors } },
  }, async (req) => ({ status: true as const, message: "Getting storage pool success", storage_pool: storagePoolView(await pools.get(req.params.id)) }));

  app.patch("/v1/admin/storage-pools/:id", {
    schema: {
      tags, summary: "Change a storage pool", description: "Rename it, move its path (for volumes created later) or change its capacity (not below what it holds).",
      params: IdParams, body: ChangeStoragePoolBody, response: { 200: ok({ storage_pool: StoragePoolView }), ...errors },
    },
  }, async (req) => ({
    status: true as const, message: "Storage pool changed",
    storage_pool: storagePoolView(await pools.change(req.params.id, { name: req.body.name, path: req.body.path, capacityGib: req.body.capacity_gib })),
  }));

  app.delete("/v1/admin/storage-pools/:id", {
    schema: { tags, summary: "Delete a storage pool", description: "Only a pool that never held a volume (409 otherwise).", params: IdParams, response: { 200: ok({}), ...errors } },
  }, async (req) => {
    await pools.delete(req.params.id);
    return { status: true as const, message: "Storage pool deleted" };
  });
};
