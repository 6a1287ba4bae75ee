// Hyperstack's flavors and images, as /v1/core/flavors and /v1/core/images answer them: flavors
// grouped per GPU model and region, images per region and type, with Orbit's extras beside.
import { Type } from "@sinclair/typebox";
import { Id, SingleLineText } from "../schemas.js";

/** Bounded so that (page - 1) * per_page stays a small integer (an SQL offset). */
const MAX_PAGE = 1_000_000;

const RegionName = SingleLineText({ minLength: 1, maxLength: 100, description: "Region name" });

export const Label = Type.Object({ id: Type.Integer(), label: Type.String() }, { additionalProperties: false });

/** The spec's free-form flavor features: flags the admin sets (network_optimised is the one the spec names). */
export const FlavorFeatures = Type.Record(Type.String(), Type.Boolean(), { description: "Feature flags the admin sets, e.g. network_optimised" });

export const Flavor = Type.Object({
  id: Type.Integer(),
  name: Type.String(),
  display_name: Type.String(),
  region_name: Type.String(),
  cpu: Type.Integer({ description: "vCPUs" }),
  ram: Type.Number({ description: "Memory in GiB" }),
  disk: Type.Integer({ description: "Root disk in GiB" }),
  ephemeral: Type.Integer({ description: "Ephemeral disk in GiB (Orbit has none: 0)" }),
  gpu: Type.String({ description: "GPU model (\"\" without GPUs)" }),
  gpu_count: Type.Integer({ description: "Whole GPUs passed through" }),
  stock_available: Type.Boolean({ description: "Whether one more VM of this flavor fits in the region now" }),
  labels: Type.Array(Label, { description: "Labels the admin sets" }),
  features: FlavorFeatures,
  created_at: Type.String({ format: "date-time" }),
  vgpu_type: Type.Union([Type.String(), Type.Null()], { description: "Orbit: one vGPU instance of this type" }),
  gpu_share_milli: Type.Union([Type.Integer(), Type.Null()], { description: "Orbit: a time-sliced share of one GPU (milli)" }),
  host_tags: Type.Array(Type.String(), { description: "Orbit: tags a host must all have to run it" }),
}, { additionalProperties: false });

export const FlavorGroup = Type.Object({
  gpu: Type.String({ description: "The group's GPU model (\"\" for CPU flavors)" }),
  region_name: Type.String(),
  flavors: Type.Array(Flavor),
}, { additionalProperties: false });

export const ListFlavorsQuery = Type.Object({
  region: Type.Optional(RegionName),
}, { additionalProperties: false });

/** Orbit restricts no image to flavors: always "none". */
export const FlavorRestrictions = Type.Object({
  has_flavor_restrictions: Type.Boolean(),
  restriction_type: Type.Union([Type.Literal("hard"), Type.Literal("soft"), Type.Null()]),
  compatible_flavors: Type.Tuple([], { description: "Always empty" }),
}, { additionalProperties: false });

export const Image = Type.Object({
  id: Type.Integer(),
  name: Type.String(),
  region_name: Type.String(),
  type: Type.String({ description: "The OS type (linux, windows): what the allocator's OS preference reads" }),
  version: Type.String(),
  size: Type.Integer({ description: "Size in GiB (0 when unknown)" }),
  display_size: Type.String(),
  description: Type.String(),
  is_public: Type.Boolean(),
  labels: Type.Array(Label),
  flavor_restrictions: FlavorRestrictions,
  os_type: Type.String({ description: "Orbit: same as type (kept for older clients)" }),
}, { additionalProperties: false });

export const ImageGroup = Type.Object({
  region_name: Type.String(),
  type: Type.String(),
  logo: Type.String({ description: "Orbit has no logos: \"\"" }),
  images: Type.Array(Image),
}, { additionalProperties: false });

export const ListImagesQuery = Type.Object({
  region: Type.Optional(RegionName),
  search: Type.Optional(SingleLineText({ maxLength: 100, description: "Part of the name, in any case" })),
  include_public: Type.Optional(Type.Boolean({ default: true, description: "false: only the account's own images (none yet)" })),
  page: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_PAGE, default: 1 })),
  per_page: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })),
}, { additionalProperties: false });

export const ImageParams = Type.Object({ id: Id() }, { additionalProperties: false });

export const GetImageQuery = Type.Object({
  include_related_vms: Type.Optional(Type.Boolean({ description: "Orbit does not list an image's VMs yet: true is refused (400 unsupported)" })),
}, { additionalProperties: false });
