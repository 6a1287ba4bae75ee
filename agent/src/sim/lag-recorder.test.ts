import { describe, expect, it } from "vitest";
import { LagRecorder, quantile, summarize } from "./lag-recorder.js";

describe("quantile", () => {
  it.each([
    [[1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 0.5, 5],
    [[1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 0.99, 10],
    [[1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 0.9, 9],
    [[7], 0.99, 7],
    [[1, 2], 0, 1],
  ])("nearest rank of %j at %d is %d", (v, q, want) => {
    expect(quantile(v, q)).toBe(want);
  });

  it("is NaN for no values", () => {
    expect(quantile([], 0.5)).toBeNaN();
  });
});

describe("LagRecorder", () => {
  it("summarizes a window and starts a new one, growing past its first buffer", () => {
    const r = new LagRecorder();
    for (let i = 100_000; i >= 1; i--) r.add(i);
    expect(r.count).toBe(100_000);
    expect(r.take()).toEqual({ count: 100_000, p50: 50_000, p90: 90_000, p99: 99_000, max: 100_000 });
    expect(r.count).toBe(0);
    r.add(3);
    expect(r.take()).toEqual(summarize([3]));
  });
});
