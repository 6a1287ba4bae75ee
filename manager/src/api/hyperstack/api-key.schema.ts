// The user's API keys as Hyperstack's /api-key routes answer them (GET /api-key, POST
// /api-key/generate, PUT and DELETE /api-key/{api_key_id}).
import { Type, type Static } from "@sinclair/typebox";
import { Id, MultiLineText, SingleLineText } from "../schemas.js";

export const ApiKeyFields = Type.Object({
  id: Type.Integer(),
  name: Type.String(),
  description: Type.String(),
  key: Type.String({ description: "The whole key right after it was generated (shown once); afterwards its first characters followed by '…'" }),
  created_at: Type.String({ format: "date-time" }),
  role: Type.Union([Type.Literal("user"), Type.Literal("admin")], { description: "Orbit: what the key may do" }),
}, { additionalProperties: false });
export type ApiKeyFieldsJson = Static<typeof ApiKeyFields>;

export const ApiKeyBody = Type.Object({
  name: SingleLineText({ minLength: 1, maxLength: 200 }),
  description: Type.Optional(MultiLineText({ maxLength: 1000 })),
}, { additionalProperties: false });

export const ApiKeyParams = Type.Object({ api_key_id: Id() }, { additionalProperties: false });
