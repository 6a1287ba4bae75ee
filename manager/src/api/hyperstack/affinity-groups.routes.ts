// Affinity groups of the caller's account: /v1/core/affinity-groups.
import { Type } from "@sinclair/typebox";
import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import type { AffinityGroupService } from "../../placement/affinity-group-service.js";
import { errors, IdParams, MultiLineText, ok, ResourceName } from "../schemas.js";
import { affinityGroupView } from "./affinity-group.presenter.js";
import { AffinityGroupView } from "./affinity-group.schema.js";

const CreateBody = Type.Object({
  name: ResourceName({ maxLength: 63 }),
  type: Type.Union([Type.Literal("host-affinity"), Type.Literal("host-anti-affinity")]),
  strict: Type.Optional(Type.Boolean({ default: true, description: "Strict groups are never violated (the deploy is refused); others are a preference" })),
  description: Type.Optional(MultiLineText({ maxLength: 1000 })),
}, { additionalProperties: false });

export const affinityGroupRoutes = (groups: AffinityGroupService): FastifyPluginAsyncTypebox => async (app) => {
  app.post("/v1/core/affinity-groups", {
    schema: { tags: ["affinity-groups"], summary: "Create an affinity group", body: CreateBody, response: { 201: ok({ affinity_group: AffinityGroupView }), ...errors } },
  }, async (req, reply) => {
    const g = await groups.create(req.principal, req.body);
    return reply.status(201).send({ status: true as const, message: "Affinity group created", affinity_group: affinityGroupView(g) });
  });

  app.get("/v1/core/affinity-groups", {
    schema: { tags: ["affinity-groups"], summary: "List affinity groups", response: { 200: ok({ count: Type.Integer(), affinity_groups: Type.Array(AffinityGroupView) }), ...errors } },
  }, async (req) => {
    const list = await groups.list(req.principal);
    return { status: true as const, message: "Getting affinity groups success", count: list.length, affinity_groups: list.map(affinityGroupView) };
  });

  app.get("/v1/core/affinity-groups/:id", {
    schema: { tags: ["affinity-groups"], summary: "Get an affinity group", params: IdParams, response: { 200: ok({ affinity_group: AffinityGroupView }), ...errors } },
  }, async (req) => ({
    status: true as const, message: "Getting affinity group success", affinity_group: affinityGroupView(await groups.get(req.principal, req.params.id)),
  }));

  app.delete("/v1/core/affinity-groups/:id", {
    schema: { tags: ["affinity-groups"], summary: "Delete an affinity group without live members", params: IdParams, response: { 200: ok({}), ...errors } },
  }, async (req) => {
    await groups.delete(req.principal, req.params.id);
    return { status: true as const, message: "Affinity group deleted" };
  });
};
