// Console logs, Hyperstack's request-then-fetch pair: POST .../logs answers a request id at once
// while the VM's agent reads the serial console; GET .../logs?request_id= answers the output.
import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import { errors, IdParams } from "../schemas.js";
import type { VmService } from "../../vm/vm-service.js";
import type { VmConsoleLogs } from "../../monitoring/vm-console-logs.js";
import { presentConsoleLog } from "./vm-logs.presenter.js";
import { FetchLogsQuery, FetchLogsResponse, RequestLogsBody, RequestLogsResponse } from "./vm-logs.schemas.js";

export interface VmLogsRoutesDeps {
  /** The VM as the caller may see it (another account's VM is a 404). */
  vms: Pick<VmService, "get">;
  logs: Pick<VmConsoleLogs, "request" | "fetch">;
}

export const vmLogsRoutes = (d: VmLogsRoutesDeps): FastifyPluginAsyncTypebox => async (app) => {
  app.post("/v1/core/virtual-machines/:id/logs", {
    schema: {
      tags: ["virtual-machines"],
      summary: "Request a virtual machine's console logs",
      description: "Starts reading the tail of the VM's serial console on its host; fetch it with GET .../logs?request_id=.",
      params: IdParams,
      body: RequestLogsBody,
      response: { 200: RequestLogsResponse, ...errors },
    },
  }, async (req) => {
    const vm = await d.vms.get(req.principal, req.params.id);
    const requestId = await d.logs.request(vm, req.body.length);
    return { status: true as const, message: "Virtual machine logs requested", request_id: requestId };
  });

  app.get("/v1/core/virtual-machines/:id/logs", {
    schema: {
      tags: ["virtual-machines"],
      summary: "Fetch a virtual machine's console logs",
      description: "Answers a request made with POST .../logs (waiting a few seconds for the host when it has not answered yet).",
      params: IdParams,
      querystring: FetchLogsQuery,
      response: { 200: FetchLogsResponse, ...errors },
    },
  }, async (req) => {
    const vm = await d.vms.get(req.principal, req.params.id);
    return presentConsoleLog(await d.logs.fetch(vm.id, req.query.request_id));
  });
};
