// Global settings as /v1/admin/settings answers them.
import { Type } from "@sinclair/typebox";

export const SettingValue = Type.Union([Type.Number(), Type.String(), Type.Null()], { description: "A number or a string, by setting; null where the setting allows none (e.g. unlimited)" });

export const Setting = Type.Object({
  name: Type.String(),
  description: Type.String(),
  value: SettingValue,
  default: SettingValue,
  is_default: Type.Boolean(),
  min: Type.Optional(Type.Number({ description: "Numeric settings: the smallest allowed value" })),
  max: Type.Optional(Type.Number({ description: "Numeric settings: the largest allowed value" })),
}, { additionalProperties: false });

/** What a change answers: the setting's name and its value as stored. */
export const SettingChange = Type.Object({ name: Type.String(), value: SettingValue }, { additionalProperties: false });
