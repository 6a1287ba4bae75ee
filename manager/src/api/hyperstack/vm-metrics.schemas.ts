// Response schemas of GET /v1/core/virtual-machines/{id}/metrics, in Hyperstack's shape: one
// series per metric, each with its column names, its rows and its unit.
import { Type, type Static } from "@sinclair/typebox";
import { ok } from "../schemas.js";
import { METRICS_DURATIONS, type MetricsDuration } from "../../monitoring/metrics-duration.js";

export const MetricsQuery = Type.Object({
  duration: Type.Optional(Type.Union(METRICS_DURATIONS.map((d: MetricsDuration) => Type.Literal(d)), {
    description: "The period to answer, ending now (default: everything kept, see the setting vm.metrics.retention.days)",
  })),
}, { additionalProperties: false });

export const MetricSeries = Type.Object({
  columns: Type.Array(Type.String(), { description: "Names of a row's values: time, granularity, value" }),
  data: Type.Array(
    Type.Array(Type.Union([Type.String(), Type.Number()]), { minItems: 3, maxItems: 3 }),
    { description: "Rows, oldest first: [time (\"YYYY-MM-DD hh:mm:ss+00:00\", the bucket's start), granularity (seconds averaged), value]" },
  ),
  unit: Type.String({ description: "%, B or B/s" }),
}, { additionalProperties: false });
export type MetricSeriesJson = Static<typeof MetricSeries>;

export const METRIC_NAMES = ["cpu", "memory.usages", "disk.read", "disk.write", "network.in", "network.out"] as const;
export type MetricName = (typeof METRIC_NAMES)[number];

export const MetricsFields = {
  cpu: MetricSeries,
  "memory.usages": MetricSeries,
  "disk.read": MetricSeries,
  "disk.write": MetricSeries,
  "network.in": MetricSeries,
  "network.out": MetricSeries,
};

export const MetricsResponse = ok(MetricsFields);
