// Regions and the caller's environments: Hyperstack's /v1/core/regions and /v1/core/environments,
// and the admin's /v1/admin/regions to create regions.
import { Type } from "@sinclair/typebox";
import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import type { EnvironmentQuotaService } from "../../environments/environment-quota.js";
import type { EnvironmentService } from "../../environments/environment-service.js";
import { errors, IdParams, ok } from "../schemas.js";
import { environmentView, regionView, vmQuotaView } from "./environment.presenter.js";
import {
  CreateEnvironmentBody, CreateRegionBody, EnvironmentNameParams, EnvironmentView, ListEnvironmentsQuery, RegionView, RenameEnvironmentBody, VmQuotaView,
} from "./environment.schema.js";
import { NameAvailability } from "./name-availability.schema.js";

const tags = ["environment"];

export const environmentRoutes = (envs: EnvironmentService, quotas: EnvironmentQuotaService): FastifyPluginAsyncTypebox => async (app) => {
  app.get("/v1/core/regions", {
    schema: { tags: ["region"], summary: "List regions", response: { 200: ok({ regions: Type.Array(RegionView) }), ...errors } },
  }, async () => ({ status: true as const, message: "Getting regions success", regions: (await envs.regions()).map(regionView) }));

  app.post("/v1/admin/regions", {
    schema: { tags: ["admin"], summary: "Create a region", body: CreateRegionBody, response: { 201: ok({ region: RegionView }), ...errors } },
  }, async (req, reply) => {
    const region = await envs.createRegion(req.body.name, req.body.description);
    return reply.status(201).send({ status: true as const, message: "Region created", region: regionView(region) });
  });

  app.get("/v1/core/environments", {
    schema: {
      tags, summary: "List environments", querystring: ListEnvironmentsQuery,
      response: { 200: ok({ environments: Type.Array(EnvironmentView), count: Type.Integer({ description: "Environments matching, on all pages" }), page: Type.Integer(), page_size: Type.Integer() }), ...errors },
    },
  }, async (req) => {
    const page = req.query.page ?? 1;
    const pageSize = req.query.page_size ?? req.query.pageSize ?? 50;
    const { environments, total } = await envs.list(req.principal.accountId, { page, pageSize, search: req.query.search });
    return { status: true as const, message: "Getting environments success", environments: environments.map(environmentView), count: total, page, page_size: pageSize };
  });

  app.post("/v1/core/environments", {
    schema: { tags, summary: "Create an environment", body: CreateEnvironmentBody, response: { 200: ok({ environment: EnvironmentView }), ...errors } },
  }, async (req) => ({
    status: true as const, message: "Environment created",
    environment: environmentView(await envs.create(req.principal.accountId, req.body.name, req.body.region)),
  }));

  app.get("/v1/core/environments/name-availability/:name", {
    schema: {
      tags, summary: "Check an environment name", description: "Whether your account has no environment of this name yet.",
      params: EnvironmentNameParams, response: { 200: NameAvailability, ...errors },
    },
  }, async (req) => {
    const available = await envs.nameAvailable(req.principal.accountId, req.params.name);
    return {
      status: true as const, name: req.params.name, available,
      message: available ? "Name is available" : `Your account already has an environment named "${req.params.name}"`,
    };
  });

  app.get("/v1/core/environments/:id/vm-quota", {
    schema: {
      tags, summary: "How many more VMs the environment takes",
      description: "From your account's limits and the region's stock now (Orbit has no subnets to count IPs in).",
      params: IdParams, response: { 200: VmQuotaView, ...errors },
    },
  }, async (req) => vmQuotaView(await quotas.quota(req.principal.accountId, req.params.id)));

  app.get("/v1/core/environments/:id", {
    schema: { tags, summary: "Get an environment", params: IdParams, response: { 200: ok({ environment: EnvironmentView }), ...errors } },
  }, async (req) => ({
    status: true as const, message: "Getting environment success", environment: environmentView(await envs.get(req.principal.accountId, req.params.id)),
  }));

  app.put("/v1/core/environments/:id", {
    schema: { tags, summary: "Rename an environment", params: IdParams, body: RenameEnvironmentBody, response: { 200: ok({ environment: EnvironmentView }), ...errors } },
  }, async (req) => ({
    status: true as const, message: "Environment renamed",
    environment: environmentView(await envs.rename(req.principal.accountId, req.params.id, req.body.name)),
  }));

  app.delete("/v1/core/environments/:id", {
    schema: {
      tags, summary: "Delete an environment", description: "Refused (409) while it holds VMs or key pairs.",
      params: IdParams, response: { 200: ok({}), ...errors },
    },
  }, async (req) => {
    await envs.delete(req.principal.accountId, req.params.id);
    return { status: true as const, message: "Environment deleted" };
  });
};
