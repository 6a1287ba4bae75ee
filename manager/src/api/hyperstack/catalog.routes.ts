import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import { Type } from "@sinclair/typebox";
import { UnsupportedError } from "#shared/errors.js";
import type { CatalogService } from "../../catalog/catalog-service.js";
import { errors, ok } from "../schemas.js";
import { flavorGroups, imageGroups, imageView } from "./catalog.presenter.js";
import { FlavorGroup, GetImageQuery, Image, ImageGroup, ImageParams, ListFlavorsQuery, ListImagesQuery } from "./catalog.schema.js";

const tags = ["catalog"];

export const catalogRoutes = (catalog: CatalogService): FastifyPluginAsyncTypebox => async (app) => {
  app.get("/v1/core/flavors", {
    schema: {
      tags, summary: "List flavors",
      description: "Flavors grouped per GPU model and region; stock_available says whether one more VM of it fits now.",
      querystring: ListFlavorsQuery, response: { 200: ok({ data: Type.Array(FlavorGroup) }), ...errors },
    },
  }, async (req) => ({ status: true as const, message: "Getting flavors success", data: flavorGroups(await catalog.flavors(req.query.region)) }));

  app.get("/v1/core/images", {
    schema: {
      tags, summary: "List images", description: "Images the caller may use grouped per region and type, one page of them; an image offered in every region is in each region's group.",
      querystring: ListImagesQuery, response: { 200: ok({ images: Type.Array(ImageGroup) }), ...errors },
    },
  }, async (req) => {
    const { region, search, include_public: includePublic, page, per_page: perPage } = req.query;
    const list = await catalog.images(req.principal, { region, search, includePublic, page, perPage });
    return { status: true as const, message: "Getting images success", images: imageGroups(list) };
  });

  app.get("/v1/core/images/:id", {
    schema: { tags, summary: "Get an image", params: ImageParams, querystring: GetImageQuery, response: { 200: ok({ image: Image }), ...errors } },
  }, async (req) => {
    if (req.query.include_related_vms) throw new UnsupportedError("include_related_vms is not supported yet", "include_related_vms");
    return { status: true as const, message: "Getting image success", image: imageView(await catalog.imageById(req.principal, req.params.id)) };
  });
};
