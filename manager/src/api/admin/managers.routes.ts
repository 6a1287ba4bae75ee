// /v1/admin/managers: the manager instances sharing the database, with the duties and jobs each holds.
import { Type } from "@sinclair/typebox";
import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import type { ManagerInstances } from "../../cluster/manager-instances.js";
import { errors, ok } from "../schemas.js";
import { managerInstanceView } from "./manager-instance.presenter.js";
import { ManagerInstance } from "./manager-instance.schema.js";

export const managerRoutes = (instances: Pick<ManagerInstances, "list">): FastifyPluginAsyncTypebox => async (app) => {
  app.get("/v1/admin/managers", {
    schema: {
      tags: ["admin"], summary: "List manager instances",
      description: "The manager processes on this database (alive, or seen within a day), newest first: each one's heartbeat, the singleton duties it runs and how many jobs it holds the lease of.",
      response: { 200: ok({ count: Type.Integer(), managers: Type.Array(ManagerInstance) }), ...errors },
    },
  }, async () => {
    const rows = await instances.list();
    return { status: true as const, message: "Getting managers success", count: rows.length, managers: rows.map(managerInstanceView) };
  });
};
