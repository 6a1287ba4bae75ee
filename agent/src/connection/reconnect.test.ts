import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { ReconnectLog, reconnectDelayMs, roundRobinDelayMs } from "./reconnect.js";

describe("reconnectDelayMs (full jitter)", () => {
  const b = { initialMs: 500, maxMs: 15_000 };

  it("is uniform between 0 and the capped exponential step", () => {
    expect(reconnectDelayMs(1, b, () => 0)).toBe(0);
    expect(reconnectDelayMs(1, b, () => 0.999999)).toBe(499);
    expect(reconnectDelayMs(3, b, () => 0.5)).toBe(1000); // step 2000
    expect(reconnectDelayMs(10, b, () => 0.5)).toBe(7500); // step capped at 15000
  });

  it("never exceeds the cap nor goes below 0, whatever the attempt and the random draw", () => {
    fc.assert(fc.property(
      fc.integer({ min: 1, max: 10_000 }), fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
      fc.integer({ min: 1, max: 5000 }), fc.integer({ min: 1, max: 120_000 }),
      (failures, r, initialMs, maxMs) => {
        const d = reconnectDelayMs(failures, { initialMs, maxMs }, () => r);
        return d >= 0 && d < Math.max(1, Math.min(maxMs, initialMs * 2 ** (failures - 1))) + 1 && d <= maxMs;
      },
    ));
  });
});

describe("roundRobinDelayMs", () => {
  const b = { initialMs: 500, maxMs: 15_000 };
  const top = () => 0.999999;

  it("tries every other manager within the first backoff step before the waits grow", () => {
    // Two managers: the first failure (the lost one) and the second stay in the first step.
    expect([1, 2, 3, 4, 5].map((f) => roundRobinDelayMs(f, 2, b, top))).toEqual([499, 499, 999, 999, 1999]);
    // Three managers: three attempts per step.
    expect([1, 3, 4, 6, 7].map((f) => roundRobinDelayMs(f, 3, b, top))).toEqual([499, 499, 999, 999, 1999]);
  });

  it("is reconnectDelayMs with one manager", () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 60 }), fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), (f, r) =>
      roundRobinDelayMs(f, 1, b, () => r) === reconnectDelayMs(f, b, () => r)));
  });
});

describe("ReconnectLog", () => {
  function sink() {
    const lines: { level: string; fields: Record<string, unknown>; message: string }[] = [];
    return {
      lines,
      warn: (fields: Record<string, unknown>, message: string) => { lines.push({ level: "warn", fields, message }); },
      info: (fields: Record<string, unknown>, message: string) => { lines.push({ level: "info", fields, message }); },
    };
  }

  it("logs the first failure, then at most one line per interval with the count", () => {
    let now = 1_000_000;
    const s = sink();
    const log = new ReconnectLog(s, 60_000, () => now);
    log.failed("ECONNREFUSED", 100);
    expect(s.lines).toHaveLength(1);
    for (let i = 0; i < 100; i++) { now += 1000; log.failed("ECONNREFUSED", 1000); }
    // 100 s of failures after the first: lines at +60 s only (the next would be at +120 s).
    expect(s.lines).toHaveLength(2);
    expect(s.lines[1]!.fields).toMatchObject({ attempts: 61, attemptsSinceLastLog: 60, awayForMs: 60_000 });
    expect(log.attempts).toBe(101);
    log.connected();
    expect(s.lines[2]).toMatchObject({ level: "info", fields: { attempts: 101 } });
    log.failed("ECONNREFUSED", 100);
    expect(s.lines).toHaveLength(4); // a new outage: its first failure is logged again
  });
});
