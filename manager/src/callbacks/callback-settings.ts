// The callback delivery knobs, as global settings (GET/PUT /v1/admin/settings).
import { z } from "zod";
import type { SettingDefinition, SettingsRegistry } from "../settings/settings-registry.js";
import type { BackoffPolicy } from "./callback-backoff.js";

export const CALLBACK_SETTINGS: SettingDefinition[] = [
  {
    name: "callbacks.attempt.timeout.ms", description: "How long one callback POST may take (connect, send, status line) before it counts as failed.",
    schema: z.number().int(), range: { min: 100, max: 120_000 }, default: 10_000,
  },
  {
    name: "callbacks.retry.window.ms", description: "How long a callback is retried, counted from its event; then it is given up (status failed).",
    schema: z.number().int(), range: { min: 1000, max: 7 * 86_400_000 }, default: 86_400_000,
  },
  {
    name: "callbacks.retry.base.ms", description: "Delay before the first retry of a failed callback; it doubles per failure (with jitter) up to callbacks.retry.max.ms.",
    schema: z.number().int(), range: { min: 10, max: 3_600_000 }, default: 2000,
  },
  {
    name: "callbacks.retry.max.ms", description: "Longest delay between two attempts of one callback.",
    schema: z.number().int(), range: { min: 10, max: 86_400_000 }, default: 600_000,
  },
  {
    name: "callbacks.concurrency", description: "Callback POSTs in flight at once per manager.",
    schema: z.number().int(), range: { min: 1, max: 256 }, default: 16,
  },
  {
    name: "callbacks.poll.interval.ms", description: "How often the delivery worker looks for due callbacks.",
    schema: z.number().int(), range: { min: 10, max: 60_000 }, default: 500,
  },
  {
    name: "callbacks.secret.rotation.grace.ms", description: "After a signing secret is rotated, how long callbacks are also signed with the previous one.",
    schema: z.number().int(), range: { min: 0, max: 30 * 86_400_000 }, default: 86_400_000,
  },
] as SettingDefinition[];

export interface DeliverySettings {
  attemptTimeoutMs: number;
  retryWindowMs: number;
  backoff: BackoffPolicy;
  concurrency: number;
  pollIntervalMs: number;
}

export function deliverySettings(r: SettingsRegistry): DeliverySettings {
  return {
    attemptTimeoutMs: r.number("callbacks.attempt.timeout.ms"),
    retryWindowMs: r.number("callbacks.retry.window.ms"),
    backoff: { baseMs: r.number("callbacks.retry.base.ms"), maxMs: r.number("callbacks.retry.max.ms") },
    concurrency: r.number("callbacks.concurrency"),
    pollIntervalMs: r.number("callbacks.poll.interval.ms"),
  };
}
