// Admin routes of HA: a host with its HA state and the evidence of its last investigation, an
// admin's declaration that a lost host is Down (after fencing it by hand), and a VM's HA flag
// and restart priority.
import { Type } from "@sinclair/typebox";
import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import { InvalidArgumentError } from "#shared/errors.js";
import type { HostInvestigator } from "../../ha/host-investigator.js";
import type { VmHa } from "../../ha/vm-ha.js";
import type { HostService } from "../../hosts/host-service.js";
import { errors, IdParams, ok, SingleLineText } from "../schemas.js";
import { hostView } from "./host.presenter.js";
import { AdminHostDetail } from "./host.schema.js";

const VmHaView = Type.Object({
  id: Type.Integer(),
  ha_enabled: Type.Boolean(),
  ha_priority: Type.Integer(),
  run_strategy: Type.Union([Type.String(), Type.Null()]),
}, { additionalProperties: false });

export const hostHaRoutes = (hostsSvc: HostService, investigator: Pick<HostInvestigator, "declareDown">, vmHa: Pick<VmHa, "set">): FastifyPluginAsyncTypebox => async (app) => {
  app.get("/v1/admin/hosts/:id", {
    schema: {
      tags: ["admin"], summary: "A host with its HA state, reason and the evidence of its last investigation", params: IdParams,
      response: { 200: ok(AdminHostDetail.properties), ...errors },
    },
  }, async (req) => {
    const d = await hostsSvc.detail(req.params.id);
    return {
      status: true as const, message: "Getting host success", host: hostView(d.host),
      ha: {
        state: d.host.state, reason: d.host.haReason, storage_heartbeat_dir: d.ha.storageHeartbeatDir,
        checked_at: d.ha.checkedAt?.toISOString() ?? null,
        evidence: d.ha.evidence.map((e) => ({
          neighbour_host_id: e.neighbourHostId, neighbour: e.neighbour, answered: e.answered, reachable: e.reachable,
          storage_heartbeat_seen: e.storageHeartbeatSeen, storage_heartbeat_age_ms: e.storageHeartbeatAgeMs, detail: e.detail,
        })),
      },
    };
  });

  app.post("/v1/admin/hosts/:id/declare-down", {
    schema: {
      tags: ["admin"],
      summary: "Declare a Suspect or Alert host Down once you fenced it yourself (power cut): its HA VMs are restarted elsewhere",
      params: IdParams,
      body: Type.Object({ note: Type.Optional(SingleLineText({ maxLength: 500 })) }, { additionalProperties: false }),
      response: { 200: ok({ host: Type.Object({ id: Type.Integer(), state: Type.String(), ha_reason: Type.String() }, { additionalProperties: false }) }), ...errors },
    },
  }, async (req) => {
    const r = await investigator.declareDown(req.params.id, req.body.note ?? "");
    return { status: true as const, message: "Host declared Down", host: { id: req.params.id, state: r.state, ha_reason: r.reason } };
  });

  app.put("/v1/admin/virtual-machines/:id/ha", {
    schema: {
      tags: ["admin"], summary: "Set a VM's HA flag and restart priority (higher restarts first when its host is lost)", params: IdParams,
      body: Type.Object({
        ha_enabled: Type.Optional(Type.Boolean()),
        ha_priority: Type.Optional(Type.Integer({ minimum: -1000, maximum: 1000 })),
      }, { additionalProperties: false }),
      response: { 200: ok({ virtual_machine: VmHaView }), ...errors },
    },
  }, async (req) => {
    if (req.body.ha_enabled === undefined && req.body.ha_priority === undefined) {
      throw new InvalidArgumentError("ha_enabled", "give ha_enabled, ha_priority or both");
    }
    const v = await vmHa.set(req.params.id, {
      ...(req.body.ha_enabled !== undefined ? { haEnabled: req.body.ha_enabled } : {}),
      ...(req.body.ha_priority !== undefined ? { haPriority: req.body.ha_priority } : {}),
    });
    return { status: true as const, message: "Virtual machine HA updated", virtual_machine: { id: v.id, ha_enabled: v.haEnabled, ha_priority: v.haPriority, run_strategy: v.runStrategy } };
  });
};
