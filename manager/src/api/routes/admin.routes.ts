import { Type } from "@sinclair/typebox";
import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import { eq } from "drizzle-orm";
import { InvalidArgumentError } from "#shared/errors.js";
import type { Db } from "../../db/database.js";
import { environments, flavors, images } from "../../db/schema.js";
import type { HostService } from "../../hosts/host-service.js";
import type { PlacementService } from "../../placement/placement-service.js";
import { VmService } from "../../vm/vm-service.js";
import type { SettingsService } from "../../settings/settings-service.js";
import { errors, Id, ok, SingleLineText } from "../schemas.js";
import { dryRunView } from "../views.js";

const SettingParams = Type.Object({ name: SingleLineText({ minLength: 1, maxLength: 200 }) }, { additionalProperties: false });

export const adminRoutes = (db: Db, hostsSvc: HostService, settings: SettingsService, placement: PlacementService): FastifyPluginAsyncTypebox => async (app) => {
  app.get("/v1/admin/hosts", {
    schema: {
      tags: ["admin"], summary: "List hosts with their state, capacity, allocations and GPUs",
      response: { 200: ok({ count: Type.Integer(), hosts: Type.Array(Type.Unknown()) }), ...errors },
    },
  }, async () => {
    const hosts = await hostsSvc.list();
    return { status: true as const, message: "Getting hosts success", count: hosts.length, hosts };
  });

  app.get("/v1/admin/settings", {
    schema: { tags: ["admin"], summary: "List global settings", response: { 200: ok({ settings: Type.Array(Type.Unknown()) }), ...errors } },
  }, async () => ({ status: true as const, message: "Getting settings success", settings: settings.list() }));

  app.get("/v1/admin/settings/:name", {
    schema: {
      tags: ["admin"], summary: "Get a global setting: value, default, description and, for numbers, the allowed range",
      params: SettingParams, response: { 200: ok({ setting: Type.Unknown() }), ...errors },
    },
  }, async (req) => ({ status: true as const, message: "Getting setting success", setting: settings.describe(req.params.name) }));

  app.put("/v1/admin/settings/:name", {
    schema: {
      tags: ["admin"], summary: "Change a global setting (validated, applied live)",
      params: SettingParams,
      body: Type.Object({ value: Type.Unknown() }, { additionalProperties: false }),
      response: { 200: ok({ setting: Type.Unknown() }), ...errors },
    },
  }, async (req) => {
    const value = await settings.set(req.params.name, req.body.value);
    return { status: true as const, message: "Setting updated", setting: { name: req.params.name, value } };
  });

  app.post("/v1/admin/placement/dry-run", {
    schema: {
      tags: ["admin"], summary: "Place a hypothetical deploy and explain it, committing nothing",
      body: Type.Object({
        flavor_name: SingleLineText({ minLength: 1, maxLength: 100 }),
        image_name: Type.Optional(SingleLineText({ minLength: 1, maxLength: 200 })),
        environment_name: Type.Optional(SingleLineText({ minLength: 1, maxLength: 63 })),
        count: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })),
        account_id: Type.Optional(Id("Place as this account would (affinity, user dispersion)")),
        seed: Type.Optional(Type.Integer({ minimum: 0, maximum: 2147483647 })),
      }, { additionalProperties: false }),
      response: { 200: ok({ result: Type.Unknown() }), ...errors },
    },
  }, async (req) => {
    const b = req.body;
    const [flavor] = await db.select().from(flavors).where(eq(flavors.name, b.flavor_name));
    if (!flavor) throw new InvalidArgumentError("flavor_name", `flavor "${b.flavor_name}" does not exist`);
    const [image] = b.image_name
      ? await db.select().from(images).where(eq(images.name, b.image_name))
      : await db.select().from(images).limit(1);
    if (!image) throw new InvalidArgumentError("image_name", `image "${b.image_name}" does not exist`);
    const envs = await db.select().from(environments);
    const env = b.environment_name ? envs.find((e) => e.name === b.environment_name) : envs.length === 1 ? envs[0] : undefined;
    if (!env) throw new InvalidArgumentError("environment_name", b.environment_name ? `environment "${b.environment_name}" does not exist` : "environment_name is required");
    const request = VmService.placementRequest(flavor, image, env.name, b.account_id ?? req.principal.accountId, b.count ?? 1);
    const result = await placement.dryRun(request, b.seed);
    return { status: true as const, message: result.ok ? "placement found" : "no placement", result: dryRunView(result) };
  });
};
