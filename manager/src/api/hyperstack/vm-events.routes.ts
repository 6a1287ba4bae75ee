// GET /v1/core/virtual-machines/{id}/events: the VM's history (Hyperstack's List_VM_events).
import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import type { VmEventService } from "../../events/vm-event-service.js";
import { errors, IdParams } from "../schemas.js";
import { instanceEventView } from "./vm-event.presenter.js";
import { InstanceEventsResponse } from "./vm-event.schema.js";

export const vmEventRoutes = (events: VmEventService): FastifyPluginAsyncTypebox => async (app) => {
  app.get("/v1/core/virtual-machines/:id/events", {
    schema: {
      tags: ["virtual machine events"], summary: "List a virtual machine's events",
      description: "Its creation, every state change and every action (requested, succeeded, failed), oldest first.",
      params: IdParams, response: { 200: InstanceEventsResponse, ...errors },
    },
  }, async (req) => {
    const history = await events.history(req.principal, req.params.id);
    return { status: true as const, message: "Getting virtual machine events success", instance_events: history.map(instanceEventView) };
  });
};
