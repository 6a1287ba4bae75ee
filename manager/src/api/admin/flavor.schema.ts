// A flavor as /v1/admin/flavors answers it: Hyperstack's fields plus where it may run.
import { Type } from "@sinclair/typebox";
import { FlavorFeatures, Label } from "../hyperstack/catalog.schema.js";

export const AdminFlavor = Type.Object({
  id: Type.Integer(),
  name: Type.String(),
  cpu: Type.Integer({ description: "vCPUs" }),
  ram: Type.Number({ description: "Memory in GiB" }),
  disk: Type.Integer({ description: "Root disk in GiB" }),
  gpu: Type.String({ description: "GPU model (\"\" without GPUs)" }),
  gpu_count: Type.Integer({ description: "Whole GPUs passed through" }),
  vgpu_type: Type.Union([Type.String(), Type.Null()], { description: "One vGPU instance of this type" }),
  gpu_share_milli: Type.Union([Type.Integer(), Type.Null()], { description: "A time-sliced share of one GPU (milli)" }),
  host_tags: Type.Array(Type.String(), { description: "All must be on the host" }),
  cpu_type: Type.Union([Type.String(), Type.Null()], { description: "Host CPU type, e.g. amd or intel" }),
  region_name: Type.String(),
  labels: Type.Array(Label),
  features: FlavorFeatures,
  retired_at: Type.Union([Type.String({ format: "date-time" }), Type.Null()], { description: "Retired: hidden from users, refused for new VMs" }),
  created_at: Type.String({ format: "date-time" }),
}, { additionalProperties: false });
