// Who may use an image, and where. Images are offered per region (Hyperstack lists them grouped
// by region); the images Orbit ships are in every region (region_name ""), their files being on
// every host. A non-public image is its owning account's alone (admins see every image); to
// anyone else it does not exist.
import { eq, or, type SQL } from "drizzle-orm";
import { InvalidArgumentError } from "#shared/errors.js";
import { images } from "../db/schema.js";

/** The region_name of an image offered in every region. */
export const EVERY_REGION = "";

/** Who is looking: an account, and whether an admin (who sees every image). */
export interface ImageViewer { accountId: number; role?: "admin" | "user" | undefined }

type ImageRow = typeof images.$inferSelect;

/** The images the viewer may see and use, as a query condition (undefined: all of them). */
export function imagesVisibleTo(viewer: ImageViewer): SQL | undefined {
  if (viewer.role === "admin") return undefined;
  return or(eq(images.isPublic, true), eq(images.accountId, viewer.accountId));
}

export function imageVisibleTo(image: Pick<ImageRow, "isPublic" | "accountId">, viewer: ImageViewer): boolean {
  return viewer.role === "admin" || image.isPublic || image.accountId === viewer.accountId;
}

/** The images offered in a region, as a query condition. */
export function imagesOfferedIn(region: string): SQL {
  return or(eq(images.regionName, region), eq(images.regionName, EVERY_REGION))!;
}

/** Refuses (400 naming `field`) an image of another region than `region`, where `target` is. */
export function requireImageInRegion(image: Pick<ImageRow, "name" | "regionName">, region: string, field: string, target: string): void {
  if (image.regionName === EVERY_REGION || image.regionName === region) return;
  throw new InvalidArgumentError(field, `image "${image.name}" is in region ${image.regionName}; ${target} is in region ${region}`);
}
