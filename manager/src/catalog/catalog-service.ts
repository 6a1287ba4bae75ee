// What a VM can be made of: flavors, images and environments, read by name for a deploy (VM
// create and the admin's placement dry run share one look-up, so they refuse alike) and listed
// for the catalog routes.
import { and, asc, count, eq, ilike, isNull, type SQL } from "drizzle-orm";
import { InvalidArgumentError, NotFoundError } from "#shared/errors.js";
import type { Db } from "../db/database.js";
import { clusters, flavors, images, regions } from "../db/schema.js";
import { EnvironmentService, type Environment } from "../environments/environment-service.js";
import { FlavorStock, type FleetSnapshots } from "./flavor-stock.js";
import { labelsOf, type FlavorLabel } from "./flavor-labels.js";
import { containsPattern } from "../db/like-pattern.js";
import { EVERY_REGION, imagesOfferedIn, imagesVisibleTo, requireImageInRegion, type ImageViewer } from "./image-access.js";

export type Flavor = typeof flavors.$inferSelect;
export type Image = typeof images.$inferSelect;
export type { Environment };

/** What a deploy names: the image may be left out where any image will do (the dry run). */
export interface DeployCatalogInput {
  flavor_name: string;
  image_name?: string | undefined;
  environment_name?: string | undefined;
}

export interface DeployCatalog { flavor: Flavor; image: Image; environment: Environment }

/** An image as listed: with the regions it is offered in (every region, for one in each). */
export interface ListedImage { image: Image; regions: string[] }

/** A flavor as listed: with its labels and whether one more VM of it fits now. */
export interface ListedFlavor { flavor: Flavor; labels: FlavorLabel[]; stockAvailable: boolean }

export interface ImageQuery {
  region?: string | undefined;
  /** Case-insensitive part of the name. */
  search?: string | undefined;
  /** False: only the account's own images (public or not). Default true. */
  includePublic?: boolean | undefined;
  page?: number | undefined;
  perPage?: number | undefined;
}

export const IMAGES_PER_PAGE_MAX = 1000;

export class CatalogService {
  private readonly stock: FlavorStock | undefined;
  private readonly environments: EnvironmentService;

  /** Without `fleet`, every flavor is listed as in stock (nothing to measure it against). */
  constructor(private readonly db: Db, fleet?: FleetSnapshots) {
    this.stock = fleet && new FlavorStock(fleet);
    this.environments = new EnvironmentService(db);
  }

  /** Flavors not retired, in `region` when given (404 for a region nothing is in). */
  async flavors(region?: string): Promise<ListedFlavor[]> {
    if (region !== undefined) await this.checkRegion(region);
    const rows = await this.db.select().from(flavors)
      .where(and(isNull(flavors.retiredAt), region !== undefined ? eq(flavors.regionName, region) : undefined))
      .orderBy(asc(flavors.id));
    const [inStock, labels] = await Promise.all([
      this.stock ? this.stock.available(rows, await this.environmentsByRegion()) : rows.map(() => true),
      labelsOf(this.db, rows.map((r) => r.id)),
    ]);
    return rows.map((flavor, i) => ({ flavor, labels: labels.get(flavor.id) ?? [], stockAvailable: inStock[i]! }));
  }

  /**
   * Every flavor not retired (a create takes any of them in any region), each with about how many
   * more VMs of it fit now in the region's fleet (an estimate, each flavor alone; null without a
   * fleet to measure).
   */
  async flavorRoom(region: string): Promise<{ flavor: Flavor; room: number | null }[]> {
    const rows = await this.db.select().from(flavors).where(isNull(flavors.retiredAt)).orderBy(asc(flavors.id));
    const room = this.stock ? await this.stock.counts(rows, region) : undefined;
    return rows.map((flavor, i) => ({ flavor, room: room ? room[i]! : null }));
  }

  /**
   * Images the viewer may use matching the query, a page of them (ordered by id), each with the
   * regions it is offered in: `region` when given, else its own or (one in every region) each
   * region with hosts.
   */
  async images(viewer: ImageViewer, q: ImageQuery = {}): Promise<ListedImage[]> {
    if (q.region !== undefined) await this.checkRegion(q.region);
    // Images still downloading or failed are the admin's (/v1/admin/images).
    const conds: (SQL | undefined)[] = [eq(images.status, "Ready"), imagesVisibleTo(viewer)];
    if (q.includePublic === false) conds.push(eq(images.accountId, viewer.accountId));
    if (q.region !== undefined) conds.push(imagesOfferedIn(q.region));
    if (q.search) conds.push(ilike(images.name, containsPattern(q.search)));
    const perPage = q.perPage ?? IMAGES_PER_PAGE_MAX;
    const rows = await this.db.select().from(images).where(and(...conds)).orderBy(asc(images.id))
      .limit(perPage).offset(((q.page ?? 1) - 1) * perPage);
    const everyRegion = q.region !== undefined ? [q.region] : await this.regionsWithHosts();
    return rows.map((image) => ({
      image,
      regions: image.regionName !== EVERY_REGION ? [image.regionName] : everyRegion.length ? everyRegion : [EVERY_REGION],
    }));
  }

  /** A Ready image the viewer may use (404 for any other). */
  async imageById(viewer: ImageViewer, id: number): Promise<Image> {
    const [row] = await this.db.select().from(images).where(and(eq(images.id, id), eq(images.status, "Ready"), imagesVisibleTo(viewer)));
    if (!row) throw new NotFoundError("image", id);
    return row;
  }

  /** A region is known when it exists, or a flavor or an image names it. */
  private async checkRegion(region: string): Promise<void> {
    const known = async (q: Promise<{ n: number }[]>): Promise<boolean> => Number((await q)[0]?.n ?? 0) > 0;
    if (await known(this.db.select({ n: count() }).from(regions).where(eq(regions.name, region)))) return;
    if (await known(this.db.select({ n: count() }).from(flavors).where(eq(flavors.regionName, region)))) return;
    if (await known(this.db.select({ n: count() }).from(images).where(eq(images.regionName, region)))) return;
    throw new NotFoundError("region", region);
  }

  /** The regions VMs can be made in (a cluster joined them); every region when none has yet. */
  private async regionsWithHosts(): Promise<string[]> {
    const all = await this.db.select({ id: regions.id, name: regions.name }).from(regions).orderBy(asc(regions.id));
    const hostedIds = new Set((await this.db.selectDistinct({ id: clusters.regionId }).from(clusters)).map((c) => c.id));
    const hosted = all.filter((r) => hostedIds.has(r.id));
    return (hosted.length ? hosted : all).map((r) => r.name);
  }

  /** The fleets to measure stock in, per region: placement keys its fleet snapshots by region name. */
  private async environmentsByRegion(): Promise<Map<string, string[]>> {
    const byRegion = new Map<string, string[]>();
    for (const r of await this.db.select({ name: regions.name }).from(regions)) byRegion.set(r.name, [r.name]);
    return byRegion;
  }

  /**
   * The account's environment (a region's implicit one is created on first use), flavor and image
   * a deploy names, each refused with a 400 naming its field: the image must be one the viewer may
   * use, offered in the environment's region.
   */
  async resolveDeploy(viewer: ImageViewer, input: DeployCatalogInput): Promise<DeployCatalog> {
    const [flavor] = await this.db.select().from(flavors).where(eq(flavors.name, input.flavor_name));
    if (!flavor) throw new InvalidArgumentError("flavor_name", `flavor "${input.flavor_name}" does not exist`);
    if (flavor.retiredAt) throw new InvalidArgumentError("flavor_name", `flavor "${input.flavor_name}" is retired`);
    const target = input.environment_name
      ? await this.environments.locate(viewer.accountId, input.environment_name, "environment_name", "400")
      : await this.environments.locateOnly(viewer.accountId);
    const image = await this.image(viewer, input.image_name, target.region);
    requireImageInRegion(image, target.region, "image_name", `environment "${target.name}"`);
    // Last: it may create the implicit environment, which a refused flavor or image must not.
    const environment = await this.environments.materialise(viewer.accountId, target);
    return { flavor, image, environment };
  }

  /** The image named, or (none named) the first one of the region: a dry run only needs its OS type. */
  private async image(viewer: ImageViewer, name: string | undefined, region: string): Promise<Image> {
    const visible = imagesVisibleTo(viewer);
    const [image] = name !== undefined
      ? await this.db.select().from(images).where(and(eq(images.name, name), visible))
      : await this.db.select().from(images).where(and(eq(images.status, "Ready"), visible, imagesOfferedIn(region))).orderBy(asc(images.id)).limit(1);
    if (image?.status === "Ready") return image;
    if (image) throw new InvalidArgumentError("image_name", `image "${name}" is not ready (${image.status})`);
    throw new InvalidArgumentError("image_name", name !== undefined ? `image "${name}" does not exist` : `no image exists yet in region ${region}`);
  }
}
