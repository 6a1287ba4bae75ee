// The image download knobs, as global settings (GET/PUT /v1/admin/settings).
import { z } from "zod";
import type { SettingDefinition } from "../settings/settings-registry.js";

export const IMAGE_SETTINGS: SettingDefinition[] = [
  {
    name: "image.download.max.bytes", description: "Largest image a registration may download (bytes); a bigger one fails (Error) without filling the image store.",
    schema: z.number().int(), range: { min: 1, max: 2 ** 50 }, default: 64 * 2 ** 30,
  },
  {
    name: "image.download.timeout.ms", description: "How long one image download may take, connect to last byte, before it fails (Error).",
    schema: z.number().int(), range: { min: 1000, max: 7 * 86_400_000 }, default: 6 * 3_600_000,
  },
] as SettingDefinition[];
