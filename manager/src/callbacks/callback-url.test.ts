import { describe, expect, it } from "vitest";
import { type InvalidArgumentError } from "#shared/errors.js";
import { deniedAddressReason, validateCallbackUrl } from "./callback-url.js";

const strict = { allowPrivateAddresses: false };
const lax = { allowPrivateAddresses: true };

function refusal(url: string, policy = strict): InvalidArgumentError {
  try {
    validateCallbackUrl(url, "url", policy);
  } catch (e) {
    return e as InvalidArgumentError;
  }
  throw new Error(`${url} was accepted`);
}

describe("callback URLs", () => {
  it("accepts public http and https URLs, normalized", () => {
    expect(validateCallbackUrl("https://hooks.example.com/orbit?x=1", "url", strict)).toBe("https://hooks.example.com/orbit?x=1");
    expect(validateCallbackUrl("HTTP://Example.com", "url", strict)).toBe("http://example.com/");
    expect(validateCallbackUrl("http://8.8.8.8:8080/x", "url", strict)).toBe("http://8.8.8.8:8080/x");
  });

  it("refuses other schemes, relative URLs, credentials and fragments with a 400 naming the field", () => {
    for (const u of ["ftp://example.com/", "file:///etc/passwd", "javascript:alert(1)", "/relative", "not a url", "https://u:p@example.com/", "https://example.com/#x"]) {
      const e = refusal(u);
      expect(e.code, u).toBe("invalid_argument");
      expect(e.field, u).toBe("url");
    }
    expect(refusal("https://example.com/" + "a".repeat(2048)).message).toMatch(/longer than 2048/);
  });

  it("refuses loopback, private and metadata addresses unless private addresses are allowed", () => {
    for (const u of ["http://127.0.0.1/", "http://localhost:8080/", "http://api.localhost/", "http://10.1.2.3/", "http://192.168.0.1/", "http://[::1]/", "http://[fd12::1]/", "http://[::ffff:127.0.0.1]/", "http://100.64.0.1/"]) {
      expect(refusal(u).message, u).toMatch(/private|loopback/);
      expect(() => validateCallbackUrl(u, "url", lax), u).not.toThrow();
    }
  });

  it("refuses link-local and metadata addresses even when private addresses are allowed", () => {
    for (const u of ["http://169.254.169.254/latest/meta-data", "http://[fe80::1]/", "http://0.0.0.0/", "http://[::ffff:169.254.169.254]/", "http://[fd00:ec2::254]/"]) {
      expect(refusal(u, lax).message, u).toMatch(/link-local|metadata|unspecified/);
    }
  });

  it("judges resolved addresses the same way", () => {
    expect(deniedAddressReason("93.184.216.34", strict)).toBeNull();
    expect(deniedAddressReason("127.0.0.1", strict)).toMatch(/loopback/);
    expect(deniedAddressReason("127.0.0.1", lax)).toBeNull();
    expect(deniedAddressReason("169.254.169.254", lax)).toMatch(/link-local/);
  });
});
