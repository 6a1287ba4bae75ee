// What the /v1/admin/registration-tokens routes answer (never a token's value, except once at creation).
import { Type, type Static } from "@sinclair/typebox";
import { Id } from "../schemas.js";

const DateTime = () => Type.String({ format: "date-time" });

export const RegistrationTokenView = Type.Object({
  id: Id(),
  note: Type.String(),
  state: Type.Union([Type.Literal("active"), Type.Literal("used"), Type.Literal("expired"), Type.Literal("revoked")]),
  created_at: DateTime(),
  expires_at: DateTime(),
  used_at: Type.Union([DateTime(), Type.Null()]),
  used_by_host_id: Type.Union([Id(), Type.Null()], { description: "The host it enrolled (null once that host is deleted)" }),
  revoked_at: Type.Union([DateTime(), Type.Null()]),
});
export type RegistrationTokenView = Static<typeof RegistrationTokenView>;
