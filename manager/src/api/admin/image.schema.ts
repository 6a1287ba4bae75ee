// An image as /v1/admin/images answers it: every status (users only see Ready ones, in
// /v1/core/images), where it came from and how its download goes.
import { Type } from "@sinclair/typebox";
import { Id } from "../schemas.js";

const Nullable = <T extends ReturnType<typeof Type.Integer>>(t: T) => Type.Union([t, Type.Null()]);

export const ImageDownloadProgressView = Type.Object({
  bytes: Type.Integer({ minimum: 0, description: "Bytes received so far" }),
  total_bytes: Nullable(Type.Integer({ minimum: 0, description: "The server's Content-Length (null when it gave none)" })),
  percent: Nullable(Type.Integer({ minimum: 0, maximum: 100, description: "null without a known total" })),
  rate_bytes_per_s: Type.Integer({ minimum: 0, description: "Average rate since the download started" }),
});

export const AdminImage = Type.Object({
  id: Id(),
  name: Type.String(),
  status: Type.Union([Type.Literal("Downloading"), Type.Literal("Ready"), Type.Literal("Error")]),
  region_name: Type.String({ description: "The region VMs of which may use it; \"\" for every region (the images Orbit ships)" }),
  os_type: Type.String(),
  format: Type.String({ description: "qcow2, raw (until converted to qcow2) or iso" }),
  bootable: Type.Boolean({ description: "ISO images: whether a VM may boot from it" }),
  version: Type.String(),
  description: Type.String(),
  is_public: Type.Boolean({ description: "false: only its account (account_id) and admins see and use it" }),
  account_id: Type.Union([Id(), Type.Null()], { description: "The owning account (null: none)" }),
  labels: Type.Array(Type.String()),
  source_url: Type.String({ description: "Where it was downloaded from (\"\" for images Orbit ships)" }),
  checksum: Type.String({ description: "algorithm:hex the download had to match" }),
  path: Type.String({ description: "File name in the manager's image store and in each host's images dir" }),
  size_bytes: Type.Union([Type.Integer(), Type.Null()], { description: "Stored file size once Ready" }),
  virtual_size_bytes: Type.Union([Type.Integer(), Type.Null()], { description: "The disk's virtual size (qemu-img) once Ready" }),
  download_progress: Type.Union([ImageDownloadProgressView, Type.Null()]),
  error: Type.String({ description: "Why the download failed (status Error)" }),
  job_id: Type.Union([Id(), Type.Null()], { description: "The image.download job (GET /v1/core/jobs/{id})" }),
  created_at: Type.String({ format: "date-time" }),
});
