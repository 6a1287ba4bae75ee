// Users of an account and their API keys: /v1/admin/accounts/{id}/users (admin keys only).
// Another account's user is a 404, like an unknown one.
import { Type } from "@sinclair/typebox";
import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import type { ApiKeyService } from "../../auth/api-key-service.js";
import type { UserService } from "../../auth/user-service.js";
import { errors, IdParams, ok } from "../schemas.js";
import { adminApiKeyJson } from "./account.presenter.js";
import { AdminApiKey } from "./account.schema.js";
import { userJson } from "./user.presenter.js";
import { AccountUserParams, CreateUserApiKeyBody, CreateUserBody, UpdateUserBody, UserJson } from "./user.schema.js";

const tags = ["admin: users"];

export const userRoutes = (users: UserService, keys: ApiKeyService): FastifyPluginAsyncTypebox => async (app) => {
  app.post("/v1/admin/accounts/:id/users", {
    schema: {
      tags, summary: "Create a user in an account (name unique in the account)", params: IdParams, body: CreateUserBody,
      response: { 201: ok({ user: UserJson }), ...errors },
    },
  }, async (req, reply) => {
    const u = await users.create(req.params.id, {
      name: req.body.name, ...(req.body.email !== undefined && { email: req.body.email }), ...(req.body.role !== undefined && { role: req.body.role }),
    });
    return reply.status(201).send({ status: true as const, message: "User created", user: userJson(u) });
  });

  app.get("/v1/admin/accounts/:id/users", {
    schema: {
      tags, summary: "List an account's users", params: IdParams,
      response: { 200: ok({ count: Type.Integer(), users: Type.Array(UserJson) }), ...errors },
    },
  }, async (req) => {
    const list = await users.list(req.params.id);
    return { status: true as const, message: "Getting users success", count: list.length, users: list.map(userJson) };
  });

  app.get("/v1/admin/accounts/:id/users/:user_id", {
    schema: { tags, summary: "Get a user of an account", params: AccountUserParams, response: { 200: ok({ user: UserJson }), ...errors } },
  }, async (req) => ({ status: true as const, message: "Getting user success", user: userJson(await users.get(req.params.id, req.params.user_id)) }));

  app.patch("/v1/admin/accounts/:id/users/:user_id", {
    schema: {
      tags, summary: "Rename a user, change its email or role (its keys' role), disable or enable it (a disabled user's keys are refused)",
      params: AccountUserParams, body: UpdateUserBody, response: { 200: ok({ user: UserJson }), ...errors },
    },
  }, async (req) => {
    const b = req.body;
    const u = await users.update(req.params.id, req.params.user_id, {
      ...(b.name !== undefined && { name: b.name }), ...(b.email !== undefined && { email: b.email }),
      ...(b.role !== undefined && { role: b.role }), ...(b.disabled !== undefined && { disabled: b.disabled }),
    }, req.principal);
    return { status: true as const, message: "User updated", user: userJson(u) };
  });

  app.delete("/v1/admin/accounts/:id/users/:user_id", {
    schema: { tags, summary: "Delete a user; its keys are revoked", params: AccountUserParams, response: { 200: ok({}), ...errors } },
  }, async (req) => {
    await users.delete(req.params.id, req.params.user_id, req.principal);
    return { status: true as const, message: "User deleted" };
  });

  app.get("/v1/admin/accounts/:id/users/:user_id/api-keys", {
    schema: {
      tags, summary: "List a user's live API keys", params: AccountUserParams,
      response: { 200: ok({ count: Type.Integer(), api_keys: Type.Array(AdminApiKey) }), ...errors },
    },
  }, async (req) => {
    await users.get(req.params.id, req.params.user_id);
    const list = await keys.list(req.params.id, "admin", req.params.user_id);
    return { status: true as const, message: "Getting API keys success", count: list.length, api_keys: list.map((k) => adminApiKeyJson(k)) };
  });

  app.post("/v1/admin/accounts/:id/users/:user_id/api-keys", {
    config: { idempotency: false },
    schema: {
      tags, summary: "Create an API key for a user (it has the user's role; the key is in this answer only)", params: AccountUserParams,
      body: CreateUserApiKeyBody, response: { 201: ok({ api_key: AdminApiKey }), ...errors },
    },
  }, async (req, reply) => {
    const { apiKey, secret } = await keys.issue(req.params.id, {
      name: req.body.name, userId: req.params.user_id, ...(req.body.description !== undefined && { description: req.body.description }),
    });
    return reply.status(201).send({ status: true as const, message: "API key created: store it now, it is not shown again", api_key: adminApiKeyJson(apiKey, secret) });
  });
};
