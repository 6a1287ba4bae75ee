// Admin: an environment's private network and floating IP pool (/v1/admin/environments/{id}/network).
import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import type { NetworkService } from "../../network/network-service.js";
import { errors, IdParams, ok } from "../schemas.js";
import { adminNetworkView } from "./network.presenter.js";
import { AdminNetwork, ChangeNetworkBody } from "./network.schema.js";

export const networkAdminRoutes = (networks: NetworkService): FastifyPluginAsyncTypebox => async (app) => {
  app.get("/v1/admin/environments/:id/network", {
    schema: {
      tags: ["admin"], summary: "Get an environment's network",
      description: "Created now (a free block of network.private.supernet) when the environment has none yet.",
      params: IdParams, response: { 200: ok({ network: AdminNetwork }), ...errors },
    },
  }, async (req) => {
    const n = await networks.get(req.params.id);
    return { status: true as const, message: "Getting network success", network: adminNetworkView(n) };
  });

  app.put("/v1/admin/environments/:id/network", {
    schema: {
      tags: ["admin"], summary: "Set an environment's network CIDR and/or floating IP pool",
      description: "409 (nothing changed) for a CIDR overlapping another network of the region, a pool overlapping another pool or the private network, or a change while addresses are in use.",
      params: IdParams, body: ChangeNetworkBody, response: { 200: ok({ network: AdminNetwork }), ...errors },
    },
  }, async (req) => {
    const n = await networks.set(req.params.id, req.body);
    return { status: true as const, message: "Network updated", network: adminNetworkView(n) };
  });
};
