import { describe, expect, it } from "vitest";
import { boundDiscoveryWarnings } from "./gpu-inventory.js";

describe("boundDiscoveryWarnings", () => {
  it("keeps a short list as it is, without duplicates", () => {
    expect(boundDiscoveryWarnings(["a", "b", "a"])).toEqual(["a", "b"]);
  });

  it("stays inside the manager's limits (32 warnings, 4096 characters each) whatever discovery met", () => {
    const many = Array.from({ length: 100 }, (_, i) => `warning ${i} ${"x".repeat(i === 0 ? 10_000 : 10)}`);
    const bounded = boundDiscoveryWarnings(many);
    expect(bounded).toHaveLength(32);
    expect(bounded[0]!.length).toBe(1000);
    expect(bounded[0]!.endsWith("...")).toBe(true);
    expect(bounded[30]).toBe(`warning 30 ${"x".repeat(10)}`);
    expect(bounded[31]).toBe("69 more GPU discovery warning(s) not shown");
  });
});
