import { describe, expect, it } from "vitest";
import { HeartbeatDeadline } from "./heartbeat-deadline.js";

describe("HeartbeatDeadline", () => {
  it("is interval x miss factor ago", () => {
    const d = new HeartbeatDeadline(() => 5000, () => 3, () => 100_000);
    expect(d.cutoff().getTime()).toBe(100_000 - 15_000);
  });

  it("keeps the old, longer interval for one old period after the interval is shortened", () => {
    let now = 100_000;
    let interval = 30_000;
    const d = new HeartbeatDeadline(() => interval, () => 3, () => now);
    interval = 1000;
    d.intervalChanged(30_000);
    expect(d.cutoff().getTime()).toBe(now - 90_000); // a host on the old cadence is not stale yet
    now += 90_000;
    expect(d.cutoff().getTime()).toBe(now - 90_000);
    now += 1;
    expect(d.cutoff().getTime()).toBe(now - 3000); // grace over: the new interval alone
  });

  it("never lengthens the deadline when the interval grows (the new one is already the longer)", () => {
    let interval = 1000;
    const d = new HeartbeatDeadline(() => interval, () => 3, () => 0);
    interval = 10_000;
    d.intervalChanged(1000);
    expect(d.cutoff().getTime()).toBe(-30_000);
  });
});
