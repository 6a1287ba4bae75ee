// GET /v1/auth/me (Hyperstack's RetrieveAuthenticatedUserDetails): the user the caller's key
// belongs to, and its account. Any live key may ask.
import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import type { AccountService } from "../../auth/account-service.js";
import type { UserService } from "../../auth/user-service.js";
import { errors, ok } from "../schemas.js";
import { authUserFields } from "./auth-me.presenter.js";
import { AuthUserFields } from "./auth-me.schema.js";

export const authMeRoutes = (users: UserService, accounts: AccountService): FastifyPluginAsyncTypebox => async (app) => {
  app.get("/v1/auth/me", {
    schema: { tags: ["auth"], summary: "Your user and its account", response: { 200: ok({ user: AuthUserFields }), ...errors } },
  }, async (req) => {
    const { accountId, userId } = req.principal;
    const [u, a] = await Promise.all([users.get(accountId, userId), accounts.get(accountId)]);
    return { status: true as const, message: "Getting user info success", user: authUserFields(u, a) };
  });
};
