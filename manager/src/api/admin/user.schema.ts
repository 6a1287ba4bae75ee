// Users of an account as the admin API shows them, and the bodies that create and change them.
import { Type, type Static } from "@sinclair/typebox";
import { Id, MultiLineText, ResourceName, SingleLineText } from "../schemas.js";

const RoleSchema = Type.Union([Type.Literal("user"), Type.Literal("admin")], {
  description: "What the user's keys may do: user (the /v1/core API in its account) or admin (everything)",
});
const Email = Type.String({ format: "email", maxLength: 254 });

export const UserJson = Type.Object({
  id: Type.Integer(),
  account_id: Type.Integer(),
  name: Type.String({ description: "Unique among the account's users" }),
  email: Type.Union([Type.String(), Type.Null()]),
  role: RoleSchema,
  disabled: Type.Boolean({ description: "A disabled user's keys are refused (401) until it is enabled again" }),
  created_at: Type.String({ format: "date-time" }),
  updated_at: Type.String({ format: "date-time" }),
}, { additionalProperties: false });
export type UserJsonT = Static<typeof UserJson>;

export const CreateUserBody = Type.Object({
  name: ResourceName({ maxLength: 63 }),
  email: Type.Optional(Type.Union([Email, Type.Null()])),
  role: Type.Optional({ ...RoleSchema, default: "user" }),
}, { additionalProperties: false });

export const UpdateUserBody = Type.Object({
  name: Type.Optional(ResourceName({ maxLength: 63 })),
  email: Type.Optional(Type.Union([Email, Type.Null()], { description: "null removes it" })),
  role: Type.Optional(RoleSchema),
  disabled: Type.Optional(Type.Boolean()),
}, { additionalProperties: false, minProperties: 1 });

export const CreateUserApiKeyBody = Type.Object({
  name: SingleLineText({ minLength: 1, maxLength: 200 }),
  description: Type.Optional(MultiLineText({ maxLength: 1000 })),
}, { additionalProperties: false });

export const AccountUserParams = Type.Object({ id: Id(), user_id: Id() }, { additionalProperties: false });
