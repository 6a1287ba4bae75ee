// Settings as /v1/admin/settings answers them.
import { Type } from "@sinclair/typebox";
import { Id } from "../schemas.js";

export const SettingValue = Type.Union([Type.Number(), Type.String(), Type.Boolean(), Type.Null()], {
  description: "A number, a string or a boolean (JSON true/false), by setting; null where the setting allows none (e.g. unlimited)",
});

export const SettingScope = Type.Union([
  Type.Literal("global"), Type.Literal("environment"), Type.Literal("cluster"), Type.Literal("host"), Type.Literal("account"),
], {
  description: "global, or the kind of object scope_id names; the narrowest scope with a value wins: host > cluster > environment > account > global",
});

export const Setting = Type.Object({
  name: Type.String(),
  description: Type.String(),
  type: Type.Union([Type.Literal("number"), Type.Literal("string"), Type.Literal("boolean")]),
  value: { ...SettingValue, description: "The value in effect at the scope asked for (global unless one was named)" },
  default: SettingValue,
  is_default: Type.Boolean({ description: "No scope up to global holds a value: the default applies" }),
  min: Type.Optional(Type.Number({ description: "Numeric settings: the smallest allowed value" })),
  max: Type.Optional(Type.Number({ description: "Numeric settings: the largest allowed value" })),
  scopes: Type.Array(SettingScope, { description: "Scopes the setting may be set at (global always)" }),
  scope: SettingScope,
  scope_id: Type.Union([Id(), Type.Null()]),
  set_here: Type.Boolean({ description: "Whether a value is set at exactly this scope" }),
  value_from: Type.Union([SettingScope, Type.Literal("default")], { description: "The scope whose value is in effect here" }),
  value_from_id: Type.Union([Id(), Type.Null()]),
}, { additionalProperties: false });

/** What a change answers: the setting's name, the scope and its value as stored. */
export const SettingChange = Type.Object({
  name: Type.String(),
  value: SettingValue,
  scope: Type.Optional(SettingScope),
  scope_id: Type.Optional(Type.Union([Id(), Type.Null()])),
}, { additionalProperties: false });

export const ScopeQuery = Type.Object({
  scope: Type.Optional(SettingScope),
  scope_id: Type.Optional(Id("The environment's, cluster's, host's or account's id (with a scope other than global)")),
}, { additionalProperties: false });

export const SettingAuditEntry = Type.Object({
  id: Type.Integer(),
  name: Type.String(),
  scope: SettingScope,
  scope_id: Type.Union([Id(), Type.Null()]),
  old_value: { ...SettingValue, description: "null: no value was set at this scope" },
  new_value: { ...SettingValue, description: "null: the value at this scope was removed (DELETE)" },
  user_id: Type.Union([Type.Integer(), Type.Null()], { description: "Who changed it; null for the manager's own changes (at start)" }),
  api_key_id: Type.Union([Type.Integer(), Type.Null()]),
  changed_at: Type.String({ format: "date-time" }),
}, { additionalProperties: false });

export const AuditQuery = Type.Object({
  name: Type.Optional(Type.String({ minLength: 1, maxLength: 200, description: "Only changes of this setting" })),
  page: Type.Optional(Type.Integer({ minimum: 1, maximum: 1_000_000, default: 1 })),
  page_size: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, default: 50 })),
}, { additionalProperties: false });
