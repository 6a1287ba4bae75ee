import { describe, expect, it } from "vitest";
import { z } from "zod";
import { InvalidArgumentError, NotFoundError } from "#shared/errors.js";
import { SettingsRegistry } from "./settings-registry.js";

describe("SettingsRegistry ranges", () => {
  it("refuses a numeric setting defined without a range, or with a default outside it", () => {
    const r = new SettingsRegistry([]);
    expect(() => r.define({ name: "a.b", description: "", schema: z.number(), default: 1 })).toThrow(/no range/);
    expect(() => r.define({ name: "a.c", description: "", schema: z.number(), default: 5, range: { min: 0, max: 1 } })).toThrow(/outside its range/);
  });

  it("refuses values outside the range, naming the setting and the range", () => {
    const r = new SettingsRegistry();
    for (const v of [1e308, 0.19, 600.5]) {
      const e = (() => { try { r.validate("ping.interval", v); } catch (x) { return x; } })();
      expect(e).toBeInstanceOf(InvalidArgumentError);
      expect((e as InvalidArgumentError).field).toBe("value");
      expect((e as Error).message).toBe(`ping.interval must be between 0.2 and 600 (got ${v})`);
    }
    expect(r.validate("ping.interval", 0.2)).toBe(0.2);
    expect(r.validate("ping.interval", 600)).toBe(600);
  });

  it("refuses control characters in string values, and names unknown settings", () => {
    const r = new SettingsRegistry([{ name: "s", description: "", schema: z.string(), default: "" }]);
    expect(() => r.validate("s", "a\u0000b")).toThrow(/control characters/);
    expect(r.validate("s", "ok")).toBe("ok");
    expect(() => r.definition("nope")).toThrow(NotFoundError);
  });
});
