// Hyperstack's flavors and images, as /v1/core/flavors and /v1/core/images answer them.
import { Type } from "@sinclair/typebox";

export const Flavor = Type.Object({
  id: Type.Integer(),
  name: Type.String(),
  cpu: Type.Integer({ description: "vCPUs" }),
  ram: Type.Number({ description: "Memory in GiB" }),
  disk: Type.Integer({ description: "Root disk in GiB" }),
  gpu: Type.String({ description: "GPU model (\"\" without GPUs)" }),
  gpu_count: Type.Integer({ description: "Whole GPUs passed through" }),
  vgpu_type: Type.Union([Type.String(), Type.Null()], { description: "One vGPU instance of this type" }),
  gpu_share_milli: Type.Union([Type.Integer(), Type.Null()], { description: "A time-sliced share of one GPU (milli)" }),
  host_tags: Type.Array(Type.String(), { description: "Tags a host must all have to run it" }),
}, { additionalProperties: false });

export const Image = Type.Object({
  id: Type.Integer(),
  name: Type.String(),
  os_type: Type.String({ description: "linux or windows" }),
  size: Type.Integer({ description: "Size in GiB (0 when unknown)" }),
}, { additionalProperties: false });
