// One-time registration tokens for enrolling hosts (admin): created (shown once), listed, revoked.
import { Type } from "@sinclair/typebox";
import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import {
  DEFAULT_TOKEN_TTL_SECONDS, MAX_TOKEN_TTL_SECONDS, type RegistrationTokenService,
} from "../../security/registration-token-service.js";
import { errors, IdParams, ok, SingleLineText } from "../schemas.js";
import { registrationTokenView } from "./registration-token.presenter.js";
import { RegistrationTokenView } from "./registration-token.schema.js";

export const registrationTokenRoutes = (tokens: RegistrationTokenService, ca: { certPem: string; fingerprintSha256: string }): FastifyPluginAsyncTypebox => async (app) => {
  app.post("/v1/admin/registration-tokens", {
    schema: {
      tags: ["admin"],
      summary: "Create a one-time registration token for a new host (the token is shown only in this response)",
      body: Type.Object({
        expires_in_seconds: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_TOKEN_TTL_SECONDS, default: DEFAULT_TOKEN_TTL_SECONDS })),
        note: Type.Optional(SingleLineText({ maxLength: 500 })),
      }, { additionalProperties: false }),
      response: {
        201: ok({
          token: Type.String({ description: "Give it to the host's agent (agent.yaml token:); single use" }),
          registration_token: RegistrationTokenView,
          ca_pem: Type.String({ description: "The manager's CA: install it on the host as tls.ca_file" }),
          ca_sha256: Type.String(),
        }),
        ...errors,
      },
    },
  }, async (req, reply) => {
    const { token, info } = await tokens.create({ expiresInSeconds: req.body.expires_in_seconds, note: req.body.note });
    void reply.status(201);
    return {
      status: true as const, message: "Registration token created (shown once)", token, registration_token: registrationTokenView(info),
      ca_pem: ca.certPem, ca_sha256: ca.fingerprintSha256,
    };
  });

  app.get("/v1/admin/registration-tokens", {
    schema: {
      tags: ["admin"], summary: "List registration tokens (never their values) with their state: active, used, expired or revoked",
      response: { 200: ok({ count: Type.Integer(), registration_tokens: Type.Array(RegistrationTokenView) }), ...errors },
    },
  }, async () => {
    const list = await tokens.list();
    return { status: true as const, message: "Getting registration tokens success", count: list.length, registration_tokens: list.map(registrationTokenView) };
  });

  app.delete("/v1/admin/registration-tokens/:id", {
    schema: {
      tags: ["admin"], summary: "Revoke a registration token (a used one keeps its record)", params: IdParams,
      response: { 200: ok({ registration_token: RegistrationTokenView }), ...errors },
    },
  }, async (req) => ({
    status: true as const, message: "Registration token revoked", registration_token: registrationTokenView(await tokens.revoke(req.params.id)),
  }));
};
