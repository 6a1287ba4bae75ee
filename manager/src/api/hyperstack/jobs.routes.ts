// Jobs (one per long operation) of the caller's account: /v1/core/jobs.
import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import type { JobService } from "../../jobs/job-service.js";
import { errors, IdParams, ok } from "../schemas.js";
import { jobView } from "./job.presenter.js";
import { JobView } from "./job.schema.js";

export const jobRoutes = (jobs: JobService): FastifyPluginAsyncTypebox => async (app) => {
  app.get("/v1/core/jobs/:id", {
    schema: { tags: ["jobs"], summary: "Get a job", params: IdParams, response: { 200: ok({ job: JobView }), ...errors } },
  }, async (req) => ({
    status: true as const, message: "Getting job success", job: jobView(await jobs.get(req.principal, req.params.id), req.principal.role),
  }));
};
