import { describe, expect, it } from "vitest";
import { metricTime, presentMetrics } from "../api/hyperstack/vm-metrics.presenter.js";
import { bucketSeconds, durationSeconds, isMetricsDuration, MAX_SERIES_POINTS, METRICS_DURATIONS } from "./metrics-duration.js";
import { consoleTail } from "./vm-console-logs.js";

describe("metrics durations", () => {
  it("knows Hyperstack's durations and their lengths, and nothing else", () => {
    expect(durationSeconds("1h")).toBe(3600);
    expect(durationSeconds("12h")).toBe(43_200);
    expect(durationSeconds("3d")).toBe(3 * 86_400);
    expect(durationSeconds("30d")).toBe(30 * 86_400);
    for (const bad of ["", "1m", "24h", "1H", "30d ", "90d", "1"]) expect(isMetricsDuration(bad)).toBe(false);
    expect(METRICS_DURATIONS.every(isMetricsDuration)).toBe(true);
  });

  it("widens buckets so every duration stays within the point limit", () => {
    expect(bucketSeconds(3600)).toBe(5);
    expect(bucketSeconds(30 * 86_400)).toBe(3600);
    expect(bucketSeconds(1)).toBe(1);
    for (const d of METRICS_DURATIONS) expect(durationSeconds(d) / bucketSeconds(durationSeconds(d))).toBeLessThanOrEqual(MAX_SERIES_POINTS);
  });
});

describe("metrics presenter", () => {
  it("writes rows as [time, granularity, value] with Hyperstack's time format, one series per metric with its unit", () => {
    expect(metricTime(new Date("2026-01-02T03:04:05.678Z"))).toBe("2026-01-02 03:04:05+00:00");
    const m = presentMetrics([{
      at: new Date("2026-01-02T03:04:00Z"), granularitySeconds: 60, cpuPercent: 12.3456, memoryUsedBytes: 1024,
      diskReadBytesPerSecond: 10.4, diskWriteBytesPerSecond: 0, networkInBytesPerSecond: 1, networkOutBytesPerSecond: 2,
    }]);
    expect(Object.keys(m).sort()).toEqual(["cpu", "disk.read", "disk.write", "memory.usages", "network.in", "network.out"]);
    expect(m.cpu).toEqual({ columns: ["time", "granularity", "value"], data: [["2026-01-02 03:04:00+00:00", 60, 12.35]], unit: "%" });
    expect(m["disk.read"]).toMatchObject({ data: [["2026-01-02 03:04:00+00:00", 60, 10]], unit: "B/s" });
    expect(m["memory.usages"].unit).toBe("B");
  });
});

describe("console log tail", () => {
  it("keeps the last lines asked for (a final newline starts no line) and drops NUL", () => {
    expect(consoleTail("a\nb\nc\n", 2)).toEqual({ text: "b\nc\n", cut: true });
    expect(consoleTail("a\nb\nc", 2)).toEqual({ text: "b\nc", cut: true });
    expect(consoleTail("a\nb\n", 2)).toEqual({ text: "a\nb\n", cut: false });
    expect(consoleTail("a\u0000b", undefined)).toEqual({ text: "ab", cut: false });
  });
});
