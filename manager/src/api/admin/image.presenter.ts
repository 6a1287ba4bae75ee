import type { Static } from "@sinclair/typebox";
import type { Image } from "../../catalog/catalog-service.js";
import type { AdminImage } from "./image.schema.js";

export function adminImageView(i: Image): Static<typeof AdminImage> {
  return {
    id: i.id, name: i.name, status: i.status, region_name: i.regionName, os_type: i.osType, format: i.format,
    bootable: i.bootable, version: i.version, description: i.description, is_public: i.isPublic, account_id: i.accountId, labels: i.labels,
    source_url: i.sourceUrl, checksum: i.checksum, path: i.path, size_bytes: i.sizeBytes, virtual_size_bytes: i.virtualSizeBytes,
    download_progress: i.downloadProgress, error: i.error, job_id: i.jobId, created_at: i.createdAt.toISOString(),
  };
}
