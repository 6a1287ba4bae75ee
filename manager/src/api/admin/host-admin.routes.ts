// Admin placement controls: a host's resource state, clusters and their allocator overrides.
import { Type } from "@sinclair/typebox";
import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import type { HostAdmin } from "../../placement/host-admin.js";
import { errors, Id, IdParams, ok, SingleLineText } from "../schemas.js";
import { clusterSettingView, clusterView, hostResourceStateView } from "./host-admin.presenter.js";
import { ClusterSettingView, ClusterView, HostResourceStateView, ResourceState } from "./host-admin.schema.js";

export const hostAdminRoutes = (admin: HostAdmin): FastifyPluginAsyncTypebox => async (app) => {
  app.put("/v1/admin/hosts/:id", {
    schema: {
      tags: ["admin"], summary: "Change a host's resource state (only Enabled hosts take new VMs)", params: IdParams,
      body: Type.Object({ resource_state: ResourceState }, { additionalProperties: false }),
      response: { 200: ok({ host: HostResourceStateView }), ...errors },
    },
  }, async (req) => {
    await admin.setResourceState(req.params.id, req.body.resource_state);
    return { status: true as const, message: "Host updated", host: hostResourceStateView(req.params.id, req.body.resource_state) };
  });

  app.get("/v1/admin/clusters", {
    schema: { tags: ["admin"], summary: "List clusters with their setting overrides", response: { 200: ok({ clusters: Type.Array(ClusterView) }), ...errors } },
  }, async () => ({ status: true as const, message: "Getting clusters success", clusters: (await admin.listClusters()).map(clusterView) }));

  app.put("/v1/admin/clusters/:id/settings/:name", {
    schema: {
      tags: ["admin"],
      summary: "Override an allocator setting for one cluster (over-provisioning factors, disable thresholds); null removes it",
      params: Type.Object({
        id: Id(),
        name: SingleLineText({ minLength: 1, maxLength: 200 }),
      }, { additionalProperties: false }),
      body: Type.Object({ value: Type.Unknown() }, { additionalProperties: false }),
      response: { 200: ok({ setting: ClusterSettingView }), ...errors },
    },
  }, async (req) => {
    const value = await admin.setClusterSetting(req.params.id, req.params.name, req.body.value, { userId: req.principal.userId, apiKeyId: req.principal.keyId });
    return { status: true as const, message: "Cluster setting updated", setting: clusterSettingView(req.params.id, req.params.name, value) };
  });
};
