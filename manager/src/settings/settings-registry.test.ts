import { describe, expect, it } from "vitest";
import { z } from "zod";
import { InvalidArgumentError, NotFoundError } from "#shared/errors.js";
import { allowedScopes, SettingsRegistry, type SettingDefinition } from "./settings-registry.js";
import { contextChain, parseScopeKey, scopeKey } from "./setting-scope.js";

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

describe("SettingsRegistry booleans", () => {
  it("takes JSON true and false only, naming the setting otherwise", () => {
    const r = new SettingsRegistry();
    for (const v of ["true", "false", "yes", 1, 0, null, undefined]) {
      const e = (() => { try { r.validate("enable.dynamic.scale.vm", v); } catch (x) { return x; } })();
      expect(e).toBeInstanceOf(InvalidArgumentError);
      expect((e as Error).message).toBe("enable.dynamic.scale.vm: must be true or false (a JSON boolean)");
    }
    expect(r.validate("enable.dynamic.scale.vm", true)).toBe(true);
    expect(r.get("enable.dynamic.scale.vm")).toBe(false);
    expect(r.get("vm.instancename.flag")).toBe(true);
  });
});

describe("SettingsRegistry scopes", () => {
  const defs = [
    { name: "infra", description: "", schema: z.number().int(), range: { min: 0, max: 9 }, default: 1, scopes: ["cluster", "host"] },
    { name: "plain", description: "", schema: z.string(), default: "" },
  ] as SettingDefinition[];

  it("defaults to global only; lists global first", () => {
    const r = new SettingsRegistry(defs);
    expect(allowedScopes(r.definition("plain"))).toEqual(["global"]);
    expect(allowedScopes(r.definition("infra"))).toEqual(["global", "cluster", "host"]);
    expect(() => r.checkScope("plain", "cluster")).toThrow("plain cannot be set at scope cluster (allowed: global)");
    expect(() => r.setLocal("plain", "x", { scope: "host", id: 1 })).toThrow(InvalidArgumentError);
  });

  it("resolves the narrowest scope the context names: host > cluster > environment > account > global", () => {
    expect(contextChain({ accountId: 4, hostId: 1, environmentId: 3, clusterId: 2 }).map(scopeKey))
      .toEqual(["host:1", "cluster:2", "environment:3", "account:4", "global"]);
    const r = new SettingsRegistry(defs);
    r.setLocal("infra", 5, { scope: "cluster", id: 2 });
    expect(r.resolveWithSource("infra", { hostId: 1, clusterId: 2 })).toEqual({ value: 5, from: { scope: "cluster", id: 2 } });
    expect(r.resolve("infra", { hostId: 1, clusterId: 3 })).toBe(1);
    r.setLocal("infra", 6, { scope: "host", id: 1 });
    expect(r.resolve("infra", { hostId: 1, clusterId: 2 })).toBe(6);
    r.clearLocal("infra", { scope: "host", id: 1 });
    expect(r.resolve("infra", { hostId: 1, clusterId: 2 })).toBe(5);
    expect(r.get("infra")).toBe(1);
    expect(r.isDefault("infra")).toBe(true);
  });

  it("parses stored scope keys, refusing unknown ones", () => {
    expect(parseScopeKey("global")).toEqual({ scope: "global" });
    expect(parseScopeKey("environment:12")).toEqual({ scope: "environment", id: 12 });
    for (const k of ["zone:1", "cluster:", "cluster:0", "cluster:x", "host:1:2"]) expect(parseScopeKey(k), k).toBeUndefined();
  });
});
