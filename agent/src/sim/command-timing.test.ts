import { describe, expect, it } from "vitest";
import { COMMAND_LATENCY_MS, commandLatencyMs, startFails } from "./command-timing.js";
import { quantile } from "./lag-recorder.js";
import { seededRandom } from "./seeded-random.js";

describe("commandLatencyMs", () => {
  it.each(["startVm", "destroyVm", "getVmStats"])("draws %s around its p50 and p99", (kind) => {
    const random = seededRandom(42);
    const draws = Float64Array.from({ length: 20_000 }, () => commandLatencyMs(kind, 1, random)).sort();
    const want = COMMAND_LATENCY_MS[kind] ?? COMMAND_LATENCY_MS.default!;
    expect(quantile(draws, 0.5)).toBeGreaterThan(want.p50 * 0.9);
    expect(quantile(draws, 0.5)).toBeLessThan(want.p50 * 1.1);
    expect(quantile(draws, 0.99)).toBeGreaterThan(want.p99 * 0.8);
    expect(quantile(draws, 0.99)).toBeLessThan(want.p99 * 1.2);
    expect(draws[draws.length - 1]).toBeLessThanOrEqual(3 * want.p99);
  });

  it("scales, and is 0 at scale 0", () => {
    expect(commandLatencyMs("startVm", 0, seededRandom(1))).toBe(0);
    expect(commandLatencyMs("startVm", 0.5, seededRandom(1))).toBeCloseTo(commandLatencyMs("startVm", 1, seededRandom(1)) / 2);
  });
});

describe("startFails", () => {
  it.each([[0, 0], [1, 10_000], [0.1, 1000]])("at rate %d fails about %d of 10,000", (rate, want) => {
    const random = seededRandom(3);
    let n = 0;
    for (let i = 0; i < 10_000; i++) if (startFails(rate, random)) n++;
    expect(Math.abs(n - want)).toBeLessThanOrEqual(want * 0.1);
  });
});
