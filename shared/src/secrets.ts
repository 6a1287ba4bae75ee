import { createHash, randomBytes, timingSafeEqual } from "node:crypto";

/** A random URL-safe secret (API keys, host secrets, join tokens). */
export function newSecret(prefix = "", bytes = 24): string {
  return prefix + randomBytes(bytes).toString("base64url");
}

export function sha256(s: string): string {
  return createHash("sha256").update(s).digest("hex");
}

export function safeEqual(a: string, b: string): boolean {
  const ba = Buffer.from(a);
  const bb = Buffer.from(b);
  return ba.length === bb.length && timingSafeEqual(ba, bb);
}
