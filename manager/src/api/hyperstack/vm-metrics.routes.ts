// GET /v1/core/virtual-machines/{id}/metrics: the VM's CPU, memory, disk and network series.
import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import { errors, IdParams } from "../schemas.js";
import type { VmService } from "../../vm/vm-service.js";
import type { VmMetricsService } from "../../monitoring/vm-metrics-service.js";
import { durationSeconds } from "../../monitoring/metrics-duration.js";
import { presentMetrics } from "./vm-metrics.presenter.js";
import { MetricsQuery, MetricsResponse } from "./vm-metrics.schemas.js";

export interface VmMetricsRoutesDeps {
  /** The VM as the caller may see it (another account's VM is a 404). */
  vms: Pick<VmService, "get">;
  metrics: Pick<VmMetricsService, "series">;
}

export const vmMetricsRoutes = (d: VmMetricsRoutesDeps): FastifyPluginAsyncTypebox => async (app) => {
  app.get("/v1/core/virtual-machines/:id/metrics", {
    schema: {
      tags: ["virtual-machines"],
      summary: "Get a virtual machine's metrics",
      description: "CPU (% of all its vCPUs), memory used (bytes) and disk and network rates (bytes/s), sampled by the host's agent "
        + "(agent.yaml stats.interval_ms) and averaged into at most 720 points per series.",
      params: IdParams,
      querystring: MetricsQuery,
      response: { 200: MetricsResponse, ...errors },
    },
  }, async (req) => {
    const vm = await d.vms.get(req.principal, req.params.id);
    const points = await d.metrics.series(vm.id, req.query.duration ? durationSeconds(req.query.duration) : undefined);
    return { status: true as const, message: "Getting virtual machine metrics success", ...presentMetrics(points) };
  });
};
