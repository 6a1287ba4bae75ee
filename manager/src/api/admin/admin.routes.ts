import { Type } from "@sinclair/typebox";
import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import type { HostService } from "../../hosts/host-service.js";
import type { VmService } from "../../vm/vm-service.js";
import { errors, Id, ok, SingleLineText } from "../schemas.js";
import { hostView } from "./host.presenter.js";
import { AdminHost } from "./host.schema.js";
import { dryRunView } from "./placement.presenter.js";
import { DryRunResult } from "./placement.schema.js";

// Orbit's own admin API: hosts and the placement dry run (settings: settings.routes.ts).
export const adminRoutes = (hostsSvc: HostService, vms: VmService): FastifyPluginAsyncTypebox => async (app) => {
  app.get("/v1/admin/hosts", {
    schema: {
      tags: ["admin"], summary: "List hosts with their state, capacity, allocations and GPUs",
      response: { 200: ok({ count: Type.Integer(), hosts: Type.Array(AdminHost) }), ...errors },
    },
  }, async () => {
    const hosts = await hostsSvc.list();
    return { status: true as const, message: "Getting hosts success", count: hosts.length, hosts: hosts.map(hostView) };
  });

  app.post("/v1/admin/placement/dry-run", {
    schema: {
      tags: ["admin"], summary: "Place a hypothetical deploy and explain it, committing nothing",
      body: Type.Object({
        flavor_name: SingleLineText({ minLength: 1, maxLength: 100 }),
        image_name: Type.Optional(SingleLineText({ minLength: 1, maxLength: 200 })),
        environment_name: Type.Optional(SingleLineText({ minLength: 1, maxLength: 63 })),
        count: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })),
        account_id: Type.Optional(Id("Place as this account would (affinity, user dispersion)")),
        seed: Type.Optional(Type.Integer({ minimum: 0, maximum: 2147483647 })),
      }, { additionalProperties: false }),
      response: { 200: ok({ result: DryRunResult }), ...errors },
    },
  }, async (req) => {
    const result = await vms.dryRun(req.principal, req.body);
    return { status: true as const, message: result.ok ? "placement found" : "no placement", result: dryRunView(result) };
  });
};
