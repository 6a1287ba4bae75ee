import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { nextAttemptAt, retryDelayMs } from "./callback-backoff.js";

const policy = { baseMs: 1000, maxMs: 60_000 };

describe("callback retry backoff", () => {
  it("doubles per failure between half and all of the ceiling, capped", () => {
    expect(retryDelayMs(1, policy, () => 0)).toBe(500);
    expect(retryDelayMs(1, policy, () => 1)).toBe(1000);
    expect(retryDelayMs(2, policy, () => 0)).toBe(1000);
    expect(retryDelayMs(4, policy, () => 1)).toBe(8000);
    expect(retryDelayMs(30, policy, () => 1)).toBe(60_000);
    expect(retryDelayMs(10_000, policy, () => 0)).toBe(30_000);
  });

  it("stays within [ceiling/2, ceiling] for any failure count and random value", () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 500 }), fc.double({ min: 0, max: 1, noNaN: true }), (n, r) => {
      const ceiling = Math.min(policy.maxMs, policy.baseMs * 2 ** Math.min(n - 1, 40));
      const d = retryDelayMs(n, policy, () => r);
      return d >= Math.floor(ceiling / 2) && d <= ceiling;
    }));
  });

  it("gives up when the next attempt would fall after the retry window", () => {
    expect(nextAttemptAt(10_000, 1, 20_000, policy, () => 1)).toBe(11_000);
    expect(nextAttemptAt(19_500, 1, 20_000, policy, () => 1)).toBeNull();
  });
});
