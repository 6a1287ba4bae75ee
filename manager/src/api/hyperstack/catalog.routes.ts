import { Type } from "@sinclair/typebox";
import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import type { CatalogService } from "../../catalog/catalog-service.js";
import { errors, ok } from "../schemas.js";
import { flavorView, imageView } from "./catalog.presenter.js";
import { Flavor, Image } from "./catalog.schema.js";

export const catalogRoutes = (catalog: CatalogService): FastifyPluginAsyncTypebox => async (app) => {
  app.get("/v1/core/flavors", {
    schema: { tags: ["catalog"], summary: "List flavors", response: { 200: ok({ data: Type.Array(Flavor) }), ...errors } },
  }, async () => ({ status: true as const, message: "Getting flavors success", data: (await catalog.flavors()).map(flavorView) }));

  app.get("/v1/core/images", {
    schema: { tags: ["catalog"], summary: "List images", response: { 200: ok({ images: Type.Array(Image) }), ...errors } },
  }, async () => ({ status: true as const, message: "Getting images success", images: (await catalog.images()).map(imageView) }));
};
