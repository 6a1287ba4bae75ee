import type { Static } from "@sinclair/typebox";
import type { Setting as SettingModel, SettingChange } from "../../settings/settings-service.js";
import type { Setting, SettingAuditEntry } from "./settings.schema.js";

export function settingView(s: SettingModel): Static<typeof Setting> {
  return {
    name: s.name, description: s.description, type: s.type, value: s.value, default: s.default, is_default: s.isDefault,
    ...(s.range ? { min: s.range.min, max: s.range.max } : {}),
    scopes: s.scopes, scope: s.scope.scope, scope_id: s.scope.scope === "global" ? null : s.scope.id, set_here: s.setHere,
    value_from: s.from === "default" ? "default" : s.from.scope,
    value_from_id: s.from === "default" || s.from.scope === "global" ? null : s.from.id,
  };
}

export function settingAuditView(c: SettingChange): Static<typeof SettingAuditEntry> {
  return {
    id: c.id, name: c.name, scope: c.scope, scope_id: c.scopeId, old_value: c.oldValue, new_value: c.newValue,
    user_id: c.userId, api_key_id: c.apiKeyId, changed_at: c.at.toISOString(),
  };
}
