import type { Static } from "@sinclair/typebox";
import type { Setting as SettingModel } from "../../settings/settings-service.js";
import type { Setting } from "./settings.schema.js";

export function settingView(s: SettingModel): Static<typeof Setting> {
  return {
    name: s.name, description: s.description, value: s.value, default: s.default, is_default: s.isDefault,
    ...(s.range ? { min: s.range.min, max: s.range.max } : {}),
  };
}
