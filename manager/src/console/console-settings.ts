// The console's knobs, as global settings (GET/PUT /v1/admin/settings).
import { z } from "zod";
import type { SettingDefinition } from "../settings/settings-registry.js";

export const CONSOLE_TOKEN_TTL_SETTING = "console.token.ttl.seconds";

export const CONSOLE_SETTINGS: SettingDefinition[] = [
  {
    name: CONSOLE_TOKEN_TTL_SETTING,
    description: "How long the one-time URL open-console answers may wait before it is used (seconds).",
    schema: z.number().int(), range: { min: 1, max: 3600 }, default: 60,
  },
] as SettingDefinition[];
