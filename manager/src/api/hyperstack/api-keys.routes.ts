// The caller's own API keys, on Hyperstack's paths: GET /v1/api-key, POST /v1/api-key/generate,
// PUT and DELETE /v1/api-key/{api_key_id}. A new key belongs to the caller's user (so has its role); a user
// key sees and revokes its own user's keys only (an admin key: every key of its account); another
// account's key, or another user's, is a 404.
import { Type } from "@sinclair/typebox";
import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import type { ApiKeyService, Principal } from "../../auth/api-key-service.js";
import { errors, ok } from "../schemas.js";
import { apiKeyFields } from "./api-key.presenter.js";
import { ApiKeyBody, ApiKeyFields, ApiKeyParams } from "./api-key.schema.js";

const tags = ["api key"];

/** Whose keys the caller manages here: its own user's, or every user's for an admin. */
const ownUser = (p: Principal) => (p.role === "admin" ? undefined : p.userId);

export const apiKeyRoutes = (keys: ApiKeyService): FastifyPluginAsyncTypebox => async (app) => {
  app.get("/v1/api-key", {
    schema: { tags, summary: "List your API keys", response: { 200: ok({ api_keys: Type.Array(ApiKeyFields) }), ...errors } },
  }, async (req) => {
    const list = await keys.list(req.principal.accountId, req.principal.role, ownUser(req.principal));
    return { status: true as const, message: "Getting API keys success", api_keys: list.map((k) => apiKeyFields(k)) };
  });

  app.post("/v1/api-key/generate", {
    config: { idempotency: false },
    schema: {
      tags, summary: "Generate an API key (shown in this answer only)", body: ApiKeyBody,
      response: { 200: ok({ api_key: ApiKeyFields }), ...errors },
    },
  }, async (req) => {
    const { apiKey, secret } = await keys.issue(req.principal.accountId, {
      name: req.body.name, userId: req.principal.userId, ...(req.body.description !== undefined && { description: req.body.description }),
    });
    return { status: true as const, message: "API key generated: store it now, it is not shown again", api_key: apiKeyFields(apiKey, secret) };
  });

  app.put("/v1/api-key/:api_key_id", {
    schema: {
      tags, summary: "Rename an API key", params: ApiKeyParams, body: ApiKeyBody,
      response: { 200: ok({ api_key: ApiKeyFields }), ...errors },
    },
  }, async (req) => {
    const k = await keys.update(req.principal.accountId, req.params.api_key_id, {
      name: req.body.name, ...(req.body.description !== undefined && { description: req.body.description }),
    }, req.principal.role, ownUser(req.principal));
    return { status: true as const, message: "API key updated", api_key: apiKeyFields(k) };
  });

  app.delete("/v1/api-key/:api_key_id", {
    schema: { tags, summary: "Revoke an API key", params: ApiKeyParams, response: { 200: ok({}), ...errors } },
  }, async (req) => {
    await keys.revoke(req.principal.accountId, req.params.api_key_id, req.principal.role, ownUser(req.principal));
    return { status: true as const, message: "API key deleted" };
  });
};
