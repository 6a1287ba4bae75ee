import { Type } from "@sinclair/typebox";
import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import { and, eq } from "drizzle-orm";
import { NotFoundError } from "#shared/errors.js";
import type { Db } from "../../db/database.js";
import { jobs } from "../../db/schema.js";
import { jobView } from "../../jobs/job-runner.js";
import { errors, IdParams, ok } from "../schemas.js";

export const jobRoutes = (db: Db): FastifyPluginAsyncTypebox => async (app) => {
  app.get("/v1/core/jobs/:id", {
    schema: {
      tags: ["jobs"], summary: "Get a job", params: IdParams,
      response: { 200: ok({ job: Type.Object({}, { additionalProperties: true }) }), ...errors },
    },
  }, async (req) => {
    const scope = req.principal.role === "admin" ? undefined : eq(jobs.accountId, req.principal.accountId);
    const [job] = await db.select().from(jobs).where(and(eq(jobs.id, req.params.id), scope));
    if (!job) throw new NotFoundError("job", req.params.id);
    const view = jobView(job);
    // Which host ran it is the operator's business (a deploy's result names the host id).
    if (req.principal.role !== "admin" && view.result && typeof view.result === "object") {
      view.result = Object.fromEntries(Object.entries(view.result).filter(([k]) => !k.startsWith("host")));
    }
    return { status: true as const, message: "Getting job success", job: view };
  });
};
