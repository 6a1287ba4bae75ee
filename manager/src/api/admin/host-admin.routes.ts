// Admin placement controls: a host's resource state, its maintenance and removal, clusters and
// their allocator overrides.
import { Type } from "@sinclair/typebox";
import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import type { HostMaintenance } from "../../hosts/host-maintenance.js";
import type { HostRemoval } from "../../hosts/host-removal.js";
import type { HostAdmin } from "../../placement/host-admin.js";
import { errors, Id, IdParams, ok, SingleLineText } from "../schemas.js";
import { clusterSettingView, clusterView, hostResourceStateView, maintenanceView, maintenanceVmView, removedHostView } from "./host-admin.presenter.js";
import {
  ClusterSettingView, ClusterView, HostResourceStateView, MaintenanceBody, MaintenanceView, MaintenanceVmView, RemovedHostView, ResourceState,
} from "./host-admin.schema.js";

export const hostAdminRoutes = (admin: HostAdmin, maintenance: HostMaintenance, removal: HostRemoval): FastifyPluginAsyncTypebox => async (app) => {
  app.put("/v1/admin/hosts/:id", {
    schema: {
      tags: ["admin"],
      summary: "Enable or disable a host (only Enabled hosts take new VMs; the maintenance states are set by /v1/admin/hosts/{id}/maintenance, 409 here)",
      params: IdParams,
      body: Type.Object({ resource_state: ResourceState }, { additionalProperties: false }),
      response: { 200: ok({ host: HostResourceStateView }), ...errors },
    },
  }, async (req) => {
    await admin.setResourceState(req.params.id, req.body.resource_state);
    return { status: true as const, message: "Host updated", host: hostResourceStateView(req.params.id, req.body.resource_state) };
  });

  app.post("/v1/admin/hosts/:id/maintenance", {
    schema: {
      tags: ["admin"],
      summary: "Put a host into maintenance: no new VMs at once (PrepareForMaintenance), its VMs migrated off by a job, then Maintenance",
      params: IdParams, body: Type.Optional(MaintenanceBody),
      response: { 202: ok({ maintenance: MaintenanceView }), ...errors },
    },
  }, async (req, reply) => {
    const m = await maintenance.start(req.params.id, { accountId: req.principal.accountId, userId: req.principal.userId }, {
      allowColdMigration: req.body?.allow_cold_migration ?? false,
    });
    return reply.status(202).send({ status: true as const, message: "Host maintenance started", maintenance: maintenanceView(m) });
  });

  app.get("/v1/admin/hosts/:id/maintenance", {
    schema: {
      tags: ["admin"], summary: "A host's maintenance: its state, and each VM's (queued, migrating with progress, moved, blocked, failed, stays)", params: IdParams,
      response: { 200: ok({ maintenance: MaintenanceView }), ...errors },
    },
  }, async (req) => ({ status: true as const, message: "Getting host maintenance success", maintenance: maintenanceView(await maintenance.status(req.params.id)) }));

  app.delete("/v1/admin/hosts/:id/maintenance", {
    schema: {
      tags: ["admin"],
      summary: "Cancel a host's maintenance: Enabled again, no further migration started (those under way finish)", params: IdParams,
      response: { 200: ok({ host: HostResourceStateView, still_migrating: Type.Array(MaintenanceVmView, { description: "Migrations under way, left to finish" }) }), ...errors },
    },
  }, async (req) => {
    const r = await maintenance.cancel(req.params.id);
    return {
      status: true as const, message: "Host maintenance cancelled", host: hostResourceStateView(r.hostId, r.resourceState),
      still_migrating: r.stillMigrating.map(maintenanceVmView),
    };
  });

  app.delete("/v1/admin/hosts/:id", {
    schema: {
      tags: ["admin"],
      summary: "Remove a host that holds no VM (in Maintenance or Disabled, or Down/Suspect/Alert): its credentials are revoked, its agent refused",
      params: IdParams,
      response: { 200: ok({ host: RemovedHostView }), ...errors },
    },
  }, async (req) => ({ status: true as const, message: "Host removed", host: removedHostView(await removal.remove(req.params.id)) }));

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
