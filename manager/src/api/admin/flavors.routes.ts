// Admin flavor management: /v1/admin/flavors (create, list, get, change, retire, delete).
import { Type } from "@sinclair/typebox";
import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import type { FlavorService } from "../../catalog/flavor-service.js";
import { errors, IdParams, ok, ResourceName, SingleLineText } from "../schemas.js";
import { adminFlavorView } from "./flavor.presenter.js";
import { AdminFlavor } from "./flavor.schema.js";

const TAG = Type.String({ minLength: 1, maxLength: 100, pattern: "^[A-Za-z0-9][A-Za-z0-9._:/=-]*$" });

const CreateFlavorBody = Type.Object({
  name: ResourceName({ maxLength: 100 }),
  cpu: Type.Integer({ minimum: 1, maximum: 1024, description: "vCPUs" }),
  ram: Type.Number({ exclusiveMinimum: 0, maximum: 65536, description: "Memory in GiB" }),
  disk: Type.Optional(Type.Integer({ minimum: 0, maximum: 65536, description: "Root disk in GiB" })),
  gpu: Type.Optional(SingleLineText({ maxLength: 200, description: "GPU model, e.g. \"NVIDIA H100 80GB HBM3\" (matched exactly)" })),
  gpu_count: Type.Optional(Type.Integer({ minimum: 0, maximum: 16, description: "Whole GPUs passed through" })),
  vgpu_type: Type.Optional(SingleLineText({ maxLength: 200, description: "One vGPU instance of this type" })),
  gpu_share_milli: Type.Optional(Type.Integer({ minimum: 0, maximum: 999, description: "A time-sliced share of one GPU (1..999 milli)" })),
  host_tags: Type.Optional(Type.Array(TAG, { maxItems: 32, description: "All must be on the host" })),
  cpu_type: Type.Optional(SingleLineText({ maxLength: 50, description: "Host CPU type, e.g. amd or intel" })),
  region_name: Type.Optional(SingleLineText({ minLength: 1, maxLength: 100, description: "Region (default \"default\")" })),
  labels: Type.Optional(Type.Array(SingleLineText({ minLength: 1, maxLength: 63 }), { maxItems: 32, uniqueItems: true, description: "Hyperstack's labels, replacing the flavor's (labels kept keep their id)" })),
  features: Type.Optional(Type.Record(Type.String(), Type.Boolean(), {
    maxProperties: 32, propertyNames: { minLength: 1, maxLength: 63, pattern: "^[a-z][a-z0-9_]*$" }, description: "Hyperstack's feature flags (e.g. network_optimised), replacing the flavor's" })),
}, { additionalProperties: false });

const ChangeFlavorBody = Type.Partial(Type.Omit(CreateFlavorBody, ["name"]), { additionalProperties: false, minProperties: 1 });

export const flavorAdminRoutes = (flavors: FlavorService): FastifyPluginAsyncTypebox => async (app) => {
  app.post("/v1/admin/flavors", {
    schema: {
      tags: ["admin"], summary: "Create a flavor", body: CreateFlavorBody,
      response: { 201: ok({ flavor: AdminFlavor }), ...errors },
    },
  }, async (req, reply) => {
    const f = await flavors.create(req.body);
    return reply.status(201).send({ status: true as const, message: "Flavor created", flavor: adminFlavorView(f) });
  });

  app.get("/v1/admin/flavors", {
    schema: { tags: ["admin"], summary: "List flavors", response: { 200: ok({ count: Type.Integer(), flavors: Type.Array(AdminFlavor) }), ...errors } },
  }, async () => {
    const rows = await flavors.list();
    return { status: true as const, message: "Getting flavors success", count: rows.length, flavors: rows.map(adminFlavorView) };
  });

  app.get("/v1/admin/flavors/:id", {
    schema: { tags: ["admin"], summary: "Get a flavor", params: IdParams, response: { 200: ok({ flavor: AdminFlavor }), ...errors } },
  }, async (req) => ({ status: true as const, message: "Getting flavor success", flavor: adminFlavorView(await flavors.get(req.params.id)) }));

  app.put("/v1/admin/flavors/:id", {
    schema: {
      tags: ["admin"], summary: "Change a flavor", description: "Changes what new VMs of it get; existing VMs keep theirs.",
      params: IdParams, body: ChangeFlavorBody, response: { 200: ok({ flavor: AdminFlavor }), ...errors },
    },
  }, async (req) => ({ status: true as const, message: "Flavor changed", flavor: adminFlavorView(await flavors.change(req.params.id, req.body)) }));

  app.post("/v1/admin/flavors/:id/retire", {
    schema: {
      tags: ["admin"], summary: "Retire a flavor", description: "Hidden from user lists and refused for new VMs; existing VMs keep it.",
      params: IdParams, response: { 200: ok({ flavor: AdminFlavor }), ...errors },
    },
  }, async (req) => ({ status: true as const, message: "Flavor retired", flavor: adminFlavorView(await flavors.retire(req.params.id)) }));

  app.delete("/v1/admin/flavors/:id", {
    schema: { tags: ["admin"], summary: "Delete a flavor no VM uses", params: IdParams, response: { 200: ok({}), ...errors } },
  }, async (req) => {
    await flavors.delete(req.params.id);
    return { status: true as const, message: "Flavor deleted" };
  });
};
