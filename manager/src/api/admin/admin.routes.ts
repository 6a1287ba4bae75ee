import { Type } from "@sinclair/typebox";
import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import type { HostService } from "../../hosts/host-service.js";
import type { SettingsService } from "../../settings/settings-service.js";
import type { VmService } from "../../vm/vm-service.js";
import { errors, Id, ok, SingleLineText } from "../schemas.js";
import { hostView } from "./host.presenter.js";
import { AdminHost } from "./host.schema.js";
import { dryRunView } from "./placement.presenter.js";
import { DryRunResult } from "./placement.schema.js";
import { settingView } from "./settings.presenter.js";
import { Setting, SettingChange } from "./settings.schema.js";

const SettingParams = Type.Object({ name: SingleLineText({ minLength: 1, maxLength: 200 }) }, { additionalProperties: false });

// Orbit's own admin API: hosts, global settings and the placement dry run.
export const adminRoutes = (hostsSvc: HostService, settings: SettingsService, vms: VmService): FastifyPluginAsyncTypebox => async (app) => {
  app.get("/v1/admin/hosts", {
    schema: {
      tags: ["admin"], summary: "List hosts with their state, capacity, allocations and GPUs",
      response: { 200: ok({ count: Type.Integer(), hosts: Type.Array(AdminHost) }), ...errors },
    },
  }, async () => {
    const hosts = await hostsSvc.list();
    return { status: true as const, message: "Getting hosts success", count: hosts.length, hosts: hosts.map(hostView) };
  });

  app.get("/v1/admin/settings", {
    schema: { tags: ["admin"], summary: "List global settings", response: { 200: ok({ settings: Type.Array(Setting) }), ...errors } },
  }, async () => ({ status: true as const, message: "Getting settings success", settings: settings.list().map(settingView) }));

  app.get("/v1/admin/settings/:name", {
    schema: {
      tags: ["admin"], summary: "Get a global setting: value, default, description and, for numbers, the allowed range",
      params: SettingParams, response: { 200: ok({ setting: Setting }), ...errors },
    },
  }, async (req) => ({ status: true as const, message: "Getting setting success", setting: settingView(settings.describe(req.params.name)) }));

  app.put("/v1/admin/settings/:name", {
    schema: {
      tags: ["admin"], summary: "Change a global setting (validated, applied live)",
      params: SettingParams,
      body: Type.Object({ value: Type.Unknown({ description: "Checked against the setting's type and range" }) }, { additionalProperties: false }),
      response: { 200: ok({ setting: SettingChange }), ...errors },
    },
  }, async (req) => {
    const value = await settings.set(req.params.name, req.body.value);
    return { status: true as const, message: "Setting updated", setting: { name: req.params.name, value } };
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
