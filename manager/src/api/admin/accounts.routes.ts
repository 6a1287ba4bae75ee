// Accounts and their API keys: /v1/admin/accounts (admin keys only).
import { Type } from "@sinclair/typebox";
import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import type { AccountService } from "../../auth/account-service.js";
import type { ApiKeyService } from "../../auth/api-key-service.js";
import { errors, IdParams, ok } from "../schemas.js";
import { accountJson, adminApiKeyJson, limitsFromJson } from "./account.presenter.js";
import {
  AccountJson, AccountKeyParams, AdminApiKey, CreateAccountBody, CreateAdminApiKeyBody, UpdateAccountBody,
} from "./account.schema.js";

const tags = ["admin: accounts"];

export const accountRoutes = (accounts: AccountService, keys: ApiKeyService): FastifyPluginAsyncTypebox => async (app) => {
  const withUsage = async (id: number) => {
    const a = await accounts.get(id);
    return accountJson(a, (await accounts.usage([a.id])).get(a.id));
  };

  app.post("/v1/admin/accounts", {
    schema: { tags, summary: "Create an account", body: CreateAccountBody, response: { 201: ok({ account: AccountJson }), ...errors } },
  }, async (req, reply) => {
    const a = await accounts.create({ name: req.body.name, limits: limitsFromJson(req.body.limits) });
    return reply.status(201).send({ status: true as const, message: "Account created", account: accountJson(a, undefined) });
  });

  app.get("/v1/admin/accounts", {
    schema: { tags, summary: "List accounts with their limits and usage", response: { 200: ok({ count: Type.Integer(), accounts: Type.Array(AccountJson) }), ...errors } },
  }, async () => {
    const all = await accounts.list();
    const usage = await accounts.usage(all.map((a) => a.id));
    return { status: true as const, message: "Getting accounts success", count: all.length, accounts: all.map((a) => accountJson(a, usage.get(a.id))) };
  });

  app.get("/v1/admin/accounts/:id", {
    schema: { tags, summary: "Get an account with its limits and usage", params: IdParams, response: { 200: ok({ account: AccountJson }), ...errors } },
  }, async (req) => ({ status: true as const, message: "Getting account success", account: await withUsage(req.params.id) }));

  app.put("/v1/admin/accounts/:id", {
    schema: {
      tags, summary: "Rename an account or change its limits (a limit below the usage refuses new creates only)",
      params: IdParams, body: UpdateAccountBody, response: { 200: ok({ account: AccountJson }), ...errors },
    },
  }, async (req) => {
    await accounts.update(req.params.id, {
      ...(req.body.name !== undefined && { name: req.body.name }), limits: limitsFromJson(req.body.limits),
    });
    return { status: true as const, message: "Account updated", account: await withUsage(req.params.id) };
  });

  for (const [action, disabled] of [["disable", true], ["enable", false]] as const) {
    app.post(`/v1/admin/accounts/:id/${action}`, {
      schema: {
        tags, summary: disabled ? "Disable an account: its keys are refused, its VMs stay" : "Enable a disabled account",
        params: IdParams, response: { 200: ok({ account: AccountJson }), ...errors },
      },
    }, async (req) => {
      await accounts.setDisabled(req.params.id, disabled, req.principal.accountId);
      return { status: true as const, message: disabled ? "Account disabled" : "Account enabled", account: await withUsage(req.params.id) };
    });
  }

  app.delete("/v1/admin/accounts/:id", {
    schema: {
      tags, summary: "Delete an account (refused while it owns VMs); its keys are revoked",
      params: IdParams, response: { 200: ok({}), ...errors },
    },
  }, async (req) => {
    await accounts.delete(req.params.id, req.principal.accountId);
    return { status: true as const, message: "Account deleted" };
  });

  app.get("/v1/admin/accounts/:id/api-keys", {
    schema: {
      tags, summary: "List an account's live API keys", params: IdParams,
      response: { 200: ok({ count: Type.Integer(), api_keys: Type.Array(AdminApiKey) }), ...errors },
    },
  }, async (req) => {
    await accounts.get(req.params.id);
    const list = await keys.list(req.params.id);
    return { status: true as const, message: "Getting API keys success", count: list.length, api_keys: list.map((k) => adminApiKeyJson(k)) };
  });

  app.post("/v1/admin/accounts/:id/api-keys", {
    config: { idempotency: false },
    schema: {
      tags, summary: "Create an API key for an account (the key is in this answer only)", params: IdParams,
      body: CreateAdminApiKeyBody, response: { 201: ok({ api_key: AdminApiKey }), ...errors },
    },
  }, async (req, reply) => {
    const { apiKey, secret } = await keys.issue(req.params.id, {
      name: req.body.name, role: req.body.role ?? "user", ...(req.body.description !== undefined && { description: req.body.description }),
    });
    return reply.status(201).send({ status: true as const, message: "API key created: store it now, it is not shown again", api_key: adminApiKeyJson(apiKey, secret) });
  });

  app.delete("/v1/admin/accounts/:id/api-keys/:key_id", {
    schema: { tags, summary: "Revoke an account's API key", params: AccountKeyParams, response: { 200: ok({}), ...errors } },
  }, async (req) => {
    await keys.revoke(req.params.id, req.params.key_id);
    return { status: true as const, message: "API key revoked" };
  });
};
