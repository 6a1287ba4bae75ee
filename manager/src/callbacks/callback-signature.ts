// How callbacks are signed (README, Event callbacks): HMAC-SHA256 with the account's secret over
// `<timestamp>.<body>`, the timestamp in Unix seconds, sent as
//   X-Orbit-Signature: t=<timestamp>,v1=<hex>[,v1=<hex with the previous secret>]
// Receivers recompute it, compare in constant time and refuse old timestamps (replays).
import { createHmac, timingSafeEqual } from "node:crypto";

export const SIGNATURE_HEADER = "X-Orbit-Signature";
export const EVENT_ID_HEADER = "X-Orbit-Event-Id";
export const EVENT_TYPE_HEADER = "X-Orbit-Event-Type";

export function signatureHex(secret: string, timestamp: number, body: string): string {
  return createHmac("sha256", secret).update(`${timestamp}.${body}`).digest("hex");
}

/** The header value: one v1 per secret that currently signs (the current one first). */
export function signatureHeader(secrets: readonly string[], timestamp: number, body: string): string {
  if (secrets.length === 0) throw new Error("no signing secret");
  return [`t=${timestamp}`, ...secrets.map((s) => `v1=${signatureHex(s, timestamp, body)}`)].join(",");
}

export interface VerifyOptions {
  /** Refuse signatures older (or further in the future) than this; default 5 minutes. */
  toleranceSeconds?: number;
  nowSeconds?: number;
}

/** What a receiver does; used by Orbit's own tests and shown in the README. */
export function verifySignature(secret: string, header: string, body: string, o: VerifyOptions = {}): boolean {
  const parts = header.split(",").map((p) => p.trim().split("="));
  const t = Number(parts.find(([k]) => k === "t")?.[1]);
  if (!Number.isSafeInteger(t)) return false;
  const now = o.nowSeconds ?? Math.floor(Date.now() / 1000);
  if (Math.abs(now - t) > (o.toleranceSeconds ?? 300)) return false;
  const expected = Buffer.from(signatureHex(secret, t, body), "hex");
  return parts.some(([k, v]) => {
    if (k !== "v1" || !v || !/^[0-9a-f]{64}$/.test(v)) return false;
    return timingSafeEqual(Buffer.from(v, "hex"), expected);
  });
}
