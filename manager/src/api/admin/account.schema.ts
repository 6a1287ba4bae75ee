// Accounts and their API keys as the admin API shows them.
import { Type, type Static } from "@sinclair/typebox";
import { Id, MultiLineText, ResourceName, SingleLineText } from "../schemas.js";

const limit = (what: string, maximum: number) =>
  Type.Union([Type.Integer({ minimum: 0, maximum }), Type.Null()], { description: `Most ${what} the account may hold; null: unlimited` });

const LIMITS = {
  vms: limit("VMs (every VM not deleted)", 1_000_000),
  vcpus: limit("vCPUs", 100_000_000),
  memory_mib: limit("MiB of RAM", 2 ** 50),
  gpus: limit("GPUs (passthrough devices, vGPUs and GPU shares each count one)", 1_000_000),
};

export const AccountLimits = Type.Object(LIMITS, { additionalProperties: false });

export const AccountUsage = Type.Object({
  vms: Type.Integer(), vcpus: Type.Integer(), memory_mib: Type.Integer(), gpus: Type.Integer(),
}, { additionalProperties: false, description: "What the account holds now (what its limits are checked against)" });

export const AccountJson = Type.Object({
  id: Type.Integer(),
  name: Type.String(),
  disabled: Type.Boolean({ description: "A disabled account's keys are refused; its VMs stay as they are" }),
  limits: AccountLimits,
  usage: AccountUsage,
  created_at: Type.String({ format: "date-time" }),
  updated_at: Type.String({ format: "date-time" }),
}, { additionalProperties: false });
export type AccountJsonT = Static<typeof AccountJson>;

export const AdminApiKey = Type.Object({
  id: Type.Integer(),
  account_id: Type.Integer(),
  user_id: Type.Integer({ description: "The user the key belongs to" }),
  name: Type.String(),
  description: Type.String(),
  role: Type.Union([Type.Literal("user"), Type.Literal("admin")], { description: "Its user's role" }),
  key: Type.String({ description: "The whole key in the answer that created it (shown once); afterwards its first characters followed by '…'" }),
  created_at: Type.String({ format: "date-time" }),
}, { additionalProperties: false });
export type AdminApiKeyT = Static<typeof AdminApiKey>;

export const CreateAccountBody = Type.Object({
  name: ResourceName({ maxLength: 63 }),
  limits: Type.Optional(Type.Partial(AccountLimits, { description: "Limits not given take the account.default.max.* settings" })),
}, { additionalProperties: false });

export const UpdateAccountBody = Type.Object({
  name: Type.Optional(ResourceName({ maxLength: 63 })),
  limits: Type.Optional(Type.Partial(AccountLimits, { description: "Only the limits given change; null: unlimited" })),
}, { additionalProperties: false });

export const CreateAdminApiKeyBody = Type.Object({
  name: SingleLineText({ minLength: 1, maxLength: 200 }),
  description: Type.Optional(MultiLineText({ maxLength: 1000 })),
  role: Type.Optional(Type.Union([Type.Literal("user"), Type.Literal("admin")], {
    default: "user", description: "The key goes to the account's default user of this role (created when missing); POST .../users/{user_id}/api-keys gives a key to a chosen user",
  })),
}, { additionalProperties: false });

export const AccountKeyParams = Type.Object({ id: Id(), key_id: Id() }, { additionalProperties: false });
