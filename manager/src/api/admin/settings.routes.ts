// Settings at every scope (CloudStack's ConfigKey scopes): list, get, set and reset one at a
// scope, and the audit of changes. Changes apply live on every manager (settings-service.ts).
import { Type } from "@sinclair/typebox";
import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import { scopeRef, type SettingsService } from "../../settings/settings-service.js";
import { errors, ok, SingleLineText } from "../schemas.js";
import { settingAuditView, settingView } from "./settings.presenter.js";
import { AuditQuery, ScopeQuery, Setting, SettingAuditEntry, SettingChange } from "./settings.schema.js";

const SettingParams = Type.Object({ name: SingleLineText({ minLength: 1, maxLength: 200 }) }, { additionalProperties: false });

export const settingsRoutes = (settings: SettingsService): FastifyPluginAsyncTypebox => async (app) => {
  app.get("/v1/admin/settings", {
    schema: {
      tags: ["admin"], summary: "List settings: type, default, global value, allowed scopes, range and description",
      response: { 200: ok({ settings: Type.Array(Setting) }), ...errors },
    },
  }, async () => ({ status: true as const, message: "Getting settings success", settings: settings.list().map(settingView) }));

  app.get("/v1/admin/settings/audit", {
    schema: {
      tags: ["admin"], summary: "List setting changes (who, when, scope, old and new value), newest first",
      querystring: AuditQuery,
      response: { 200: ok({ count: Type.Integer(), page: Type.Integer(), page_size: Type.Integer(), changes: Type.Array(SettingAuditEntry) }), ...errors },
    },
  }, async (req) => {
    const page = req.query.page ?? 1;
    const pageSize = req.query.page_size ?? 50;
    const { changes, total } = await settings.changes({ ...(req.query.name !== undefined ? { name: req.query.name } : {}), page, pageSize });
    return { status: true as const, message: "Getting setting changes success", count: total, page, page_size: pageSize, changes: changes.map(settingAuditView) };
  });

  app.get("/v1/admin/settings/:name", {
    schema: {
      tags: ["admin"], summary: "Get a setting as it applies at a scope (global by default): value in effect and where it comes from",
      params: SettingParams, querystring: ScopeQuery, response: { 200: ok({ setting: Setting }), ...errors },
    },
  }, async (req) => {
    const at = scopeRef(req.query.scope, req.query.scope_id);
    return { status: true as const, message: "Getting setting success", setting: settingView(await settings.describe(req.params.name, at)) };
  });

  app.put("/v1/admin/settings/:name", {
    schema: {
      tags: ["admin"], summary: "Set a setting at a scope (global by default): validated, audited, applied live on every manager",
      params: SettingParams, querystring: ScopeQuery,
      body: Type.Object({ value: Type.Unknown({ description: "Checked against the setting's type and range" }) }, { additionalProperties: false }),
      response: { 200: ok({ setting: SettingChange }), ...errors },
    },
  }, async (req) => {
    const at = scopeRef(req.query.scope, req.query.scope_id);
    const value = await settings.set(req.params.name, req.body.value, at, { userId: req.principal.userId, apiKeyId: req.principal.keyId });
    return {
      status: true as const, message: "Setting updated",
      setting: { name: req.params.name, value, scope: at.scope, scope_id: at.scope === "global" ? null : at.id },
    };
  });

  app.delete("/v1/admin/settings/:name", {
    schema: {
      tags: ["admin"], summary: "Remove a setting's value at a scope: the scope above applies again (the default, for global)",
      params: SettingParams, querystring: ScopeQuery, response: { 200: ok({ setting: Setting }), ...errors },
    },
  }, async (req) => {
    const at = scopeRef(req.query.scope, req.query.scope_id);
    await settings.reset(req.params.name, at, { userId: req.principal.userId, apiKeyId: req.principal.keyId });
    return { status: true as const, message: "Setting reset", setting: settingView(await settings.describe(req.params.name, at)) };
  });
};
