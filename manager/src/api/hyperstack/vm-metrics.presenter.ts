// A VM's usage points as Hyperstack's metrics fields (pure: no database, no request).
import type { VmUsage, } from "../../monitoring/vm-usage-rates.js";
import type { VmUsagePoint } from "../../monitoring/vm-metrics-service.js";
import type { MetricName, MetricSeriesJson } from "./vm-metrics.schemas.js";

const SERIES: Record<MetricName, { unit: string; value: (u: VmUsage) => number }> = {
  cpu: { unit: "%", value: (u) => u.cpuPercent },
  "memory.usages": { unit: "B", value: (u) => u.memoryUsedBytes },
  "disk.read": { unit: "B/s", value: (u) => u.diskReadBytesPerSecond },
  "disk.write": { unit: "B/s", value: (u) => u.diskWriteBytesPerSecond },
  "network.in": { unit: "B/s", value: (u) => u.networkInBytesPerSecond },
  "network.out": { unit: "B/s", value: (u) => u.networkOutBytesPerSecond },
};

/** "2023-09-01 01:19:00+00:00", as Hyperstack writes a row's time. */
export function metricTime(d: Date): string {
  return d.toISOString().replace("T", " ").replace(/\.\d{3}Z$/, "+00:00");
}

/** Values rounded to what a chart shows: hundredths of a percent, whole bytes. */
const round = (unit: string, v: number): number => (unit === "%" ? Math.round(v * 100) / 100 : Math.round(v));

export function presentMetrics(points: readonly VmUsagePoint[]): Record<MetricName, MetricSeriesJson> {
  const out = {} as Record<MetricName, MetricSeriesJson>;
  for (const [name, s] of Object.entries(SERIES) as [MetricName, (typeof SERIES)[MetricName]][]) {
    out[name] = {
      columns: ["time", "granularity", "value"],
      data: points.map((p) => [metricTime(p.at), p.granularitySeconds, round(s.unit, s.value(p))]),
      unit: s.unit,
    };
  }
  return out;
}
