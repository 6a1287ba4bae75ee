// What the /v1/core region and environment routes accept and answer (Hyperstack's fields).
import { Type, type Static } from "@sinclair/typebox";
import { Id, ResourceName, SingleLineText } from "../schemas.js";

/** Bounded so that (page - 1) * page_size stays a small integer (an SQL offset). */
const MAX_PAGE = 1_000_000;

const GreenStatus = Type.Union([Type.Literal("GREEN"), Type.Literal("PARTIALLY_GREEN"), Type.Literal("NOT_GREEN")], {
  description: "Orbit does not know where its hosts' power comes from: always NOT_GREEN",
});

export const EnvironmentFeatures = Type.Object({
  network_optimised: Type.Boolean({ description: "Orbit has no network-optimised regions: always false" }),
  green_status: GreenStatus,
});

export const EnvironmentView = Type.Object({
  id: Id(),
  name: Type.String(),
  region: Type.String({ description: "The region's name" }),
  features: EnvironmentFeatures,
  created_at: Type.String({ format: "date-time" }),
});
export type EnvironmentView = Static<typeof EnvironmentView>;

export const RegionView = Type.Object({
  id: Id(),
  name: Type.String(),
  description: Type.String({ description: "Orbit extra: what the admin wrote about the region" }),
  country: Type.String({ description: "Not recorded by Orbit: always empty" }),
  green_status: GreenStatus,
  features: Type.Object({}, { additionalProperties: Type.String(), maxProperties: 0, description: "Orbit records no region features: always {}" }),
});
export type RegionView = Static<typeof RegionView>;

const EnvironmentName = () => ResourceName({ maxLength: 50, description: "1-50 characters: letters, digits, . _ -; unique in the account" });

export const CreateEnvironmentBody = Type.Object({
  name: EnvironmentName(),
  region: SingleLineText({ minLength: 1, maxLength: 100, description: "The region's name (GET /v1/core/regions)" }),
}, { additionalProperties: false });

export const RenameEnvironmentBody = Type.Object({ name: EnvironmentName() }, { additionalProperties: false });

export const ListEnvironmentsQuery = Type.Object({
  page: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_PAGE, default: 1 })),
  pageSize: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, default: 50, description: "Hyperstack's spelling of page_size" })),
  page_size: Type.Optional(Type.Integer({ minimum: 1, maximum: 500 })),
  search: Type.Optional(SingleLineText({ maxLength: 100, description: "Part of the name or region, in any case, or the id" })),
}, { additionalProperties: false });

export const CreateRegionBody = Type.Object({
  name: ResourceName({ maxLength: 100, description: "Agents name it in their environment setting to join it" }),
  description: Type.Optional(SingleLineText({ maxLength: 500 })),
}, { additionalProperties: false });

export const EnvironmentNameParams = Type.Object({ name: SingleLineText({ minLength: 1, maxLength: 200 }) }, { additionalProperties: false });

/** Hyperstack's VM_Quota, with Orbit's room per flavor beside it. */
export const VmQuotaView = Type.Object({
  status: Type.Literal(true),
  message: Type.String(),
  current_vms: Type.Integer({ description: "Your live VMs in the environment" }),
  max_vms: Type.Integer({ description: "current_vms + available_vms" }),
  available_vms: Type.Integer({ description: "How many more VMs you may create here now: the most of any flavor below (limits and stock)" }),
  percentage_used: Type.Number({ description: "current_vms of max_vms, in percent (0 when max_vms is 0)" }),
  cidr: Type.String({ description: "The environment's private network (\"\" until its first VM creates it); the quota counts its free addresses, the account's limits and the stock" }),
  flavors: Type.Array(Type.Object({
    id: Type.Integer(),
    name: Type.String(),
    available_vms: Type.Integer({ description: "More VMs of this flavor: the fewest of what the account's limits and the region's stock (an estimate) allow" }),
  }, { additionalProperties: false }), { description: "Orbit: every flavor, each with its room in the environment's region" }),
}, { additionalProperties: false });
