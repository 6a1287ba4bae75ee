// The caller's own user, as Hyperstack's GET /auth/me answers it (AuthUserFields), with Orbit's
// id, role and account beside.
import { Type, type Static } from "@sinclair/typebox";

export const AuthUserFields = Type.Object({
  id: Type.Integer({ description: "Orbit: the user's id" }),
  name: Type.String(),
  username: Type.String({ description: "Orbit: the user's name (unique in its account), as name" }),
  email: Type.String({ description: "Empty when the user has none" }),
  created_at: Type.String({ format: "date-time" }),
  role: Type.Union([Type.Literal("user"), Type.Literal("admin")], { description: "Orbit: what the user's keys may do" }),
  account: Type.Object({ id: Type.Integer(), name: Type.String() }, { additionalProperties: false, description: "Orbit: the user's account" }),
}, { additionalProperties: false });
export type AuthUserFieldsJson = Static<typeof AuthUserFields>;
