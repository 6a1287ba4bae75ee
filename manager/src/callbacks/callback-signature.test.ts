import { createHmac } from "node:crypto";
import { describe, expect, it } from "vitest";
import { signatureHeader, signatureHex, verifySignature } from "./callback-signature.js";

const body = JSON.stringify({ event_id: "transition:1", type: "state_changed" });

describe("callback signatures", () => {
  it("is HMAC-SHA256 over timestamp.body, hex", () => {
    const expected = createHmac("sha256", "s3cret").update(`1700000000.${body}`).digest("hex");
    expect(signatureHex("s3cret", 1700000000, body)).toBe(expected);
    expect(signatureHeader(["s3cret"], 1700000000, body)).toBe(`t=1700000000,v1=${expected}`);
  });

  it("verifies with the right secret and body, within the tolerance", () => {
    const header = signatureHeader(["s3cret"], 1700000000, body);
    expect(verifySignature("s3cret", header, body, { nowSeconds: 1700000010 })).toBe(true);
    expect(verifySignature("other", header, body, { nowSeconds: 1700000010 })).toBe(false);
    expect(verifySignature("s3cret", header, body + " ", { nowSeconds: 1700000010 })).toBe(false);
    expect(verifySignature("s3cret", header, body, { nowSeconds: 1700000000 + 301 })).toBe(false);
    expect(verifySignature("s3cret", header.replace("t=1700000000", "t=1700000001"), body, { nowSeconds: 1700000010 })).toBe(false);
    expect(verifySignature("s3cret", "v1=zz", body)).toBe(false);
  });

  it("carries one v1 per signing secret during a rotation: either secret verifies", () => {
    const header = signatureHeader(["new", "old"], 1700000000, body);
    expect(header.match(/v1=/g)).toHaveLength(2);
    expect(verifySignature("new", header, body, { nowSeconds: 1700000000 })).toBe(true);
    expect(verifySignature("old", header, body, { nowSeconds: 1700000000 })).toBe(true);
    expect(verifySignature("neither", header, body, { nowSeconds: 1700000000 })).toBe(false);
  });

  it("refuses to sign without a secret", () => {
    expect(() => signatureHeader([], 1, body)).toThrow();
  });
});
