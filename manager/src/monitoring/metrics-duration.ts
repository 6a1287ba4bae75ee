// The durations GET /v1/core/virtual-machines/{id}/metrics accepts (Hyperstack's values), and how
// many points a series may have: longer durations are averaged into wider buckets.

export const METRICS_DURATIONS = ["1h", "2h", "4h", "6h", "12h", "1d", "3d", "7d", "15d", "30d"] as const;
export type MetricsDuration = (typeof METRICS_DURATIONS)[number];

/** The most points one series answers; 30 days then come in 1-hour buckets. */
export const MAX_SERIES_POINTS = 720;

const UNIT_SECONDS = { h: 3600, d: 86_400 } as const;

export function isMetricsDuration(v: string): v is MetricsDuration {
  return (METRICS_DURATIONS as readonly string[]).includes(v);
}

/** Seconds in a duration ("6h" → 21600). */
export function durationSeconds(d: MetricsDuration): number {
  const unit = d.slice(-1) as keyof typeof UNIT_SECONDS;
  return Number(d.slice(0, -1)) * UNIT_SECONDS[unit];
}

/** The bucket width (seconds) that keeps a window of this many seconds within MAX_SERIES_POINTS. */
export function bucketSeconds(windowSeconds: number): number {
  return Math.max(1, Math.ceil(windowSeconds / MAX_SERIES_POINTS));
}
