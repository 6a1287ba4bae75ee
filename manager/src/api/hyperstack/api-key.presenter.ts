// API keys → Hyperstack's ApiKeyFields. The secret appears only in the answer that made the key.
import type { ApiKey } from "../../auth/api-key-service.js";
import type { ApiKeyFieldsJson } from "./api-key.schema.js";

export function apiKeyFields(k: ApiKey, secret?: string): ApiKeyFieldsJson {
  return {
    id: k.id, name: k.name, description: k.description, key: secret ?? `${k.prefix}…`,
    created_at: k.createdAt.toISOString(), role: k.role,
  };
}
