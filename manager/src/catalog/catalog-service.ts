// What a VM can be made of: flavors, images and environments, read by name for a deploy (VM
// create and the admin's placement dry run share one look-up, so they refuse alike) and listed
// for the catalog routes.
import { and, asc, count, eq, ilike, isNull, type SQL } from "drizzle-orm";
import { InvalidArgumentError, NotFoundError } from "#shared/errors.js";
import type { Db } from "../db/database.js";
import { environments, flavors, images } from "../db/schema.js";
import { FlavorStock, type FleetSnapshots } from "./flavor-stock.js";

export type Flavor = typeof flavors.$inferSelect;
export type Image = typeof images.$inferSelect;
export type Environment = typeof environments.$inferSelect;

/** What a deploy names: the image may be left out where any image will do (the dry run). */
export interface DeployCatalogInput {
  flavor_name: string;
  image_name?: string | undefined;
  environment_name?: string | undefined;
}

export interface DeployCatalog { flavor: Flavor; image: Image; environment: Environment }

/** A flavor as listed: with whether one more VM of it fits now. */
export interface ListedFlavor { flavor: Flavor; stockAvailable: boolean }

export interface ImageQuery {
  region?: string | undefined;
  /** Case-insensitive part of the name. */
  search?: string | undefined;
  /** False: only the account's own images (Orbit has none yet, so none). Default true. */
  includePublic?: boolean | undefined;
  page?: number | undefined;
  perPage?: number | undefined;
}

export const IMAGES_PER_PAGE_MAX = 1000;

export class CatalogService {
  private readonly stock: FlavorStock | undefined;

  /** Without `fleet`, every flavor is listed as in stock (nothing to measure it against). */
  constructor(private readonly db: Db, fleet?: FleetSnapshots) {
    this.stock = fleet && new FlavorStock(fleet);
  }

  /** Flavors not retired, in `region` when given (404 for a region nothing is in). */
  async flavors(region?: string): Promise<ListedFlavor[]> {
    if (region !== undefined) await this.checkRegion(region);
    const rows = await this.db.select().from(flavors)
      .where(and(isNull(flavors.retiredAt), region !== undefined ? eq(flavors.regionName, region) : undefined))
      .orderBy(asc(flavors.id));
    const inStock = this.stock ? await this.stock.available(rows, await this.environmentsByRegion()) : rows.map(() => true);
    return rows.map((flavor, i) => ({ flavor, stockAvailable: inStock[i]! }));
  }

  /** Images matching the query, a page of them (ordered by id). */
  async images(q: ImageQuery = {}): Promise<Image[]> {
    if (q.region !== undefined) await this.checkRegion(q.region);
    // Every image is public today: an account's own images come with the images issue.
    if (q.includePublic === false) return [];
    const conds: SQL[] = [];
    if (q.region !== undefined) conds.push(eq(images.regionName, q.region));
    if (q.search) conds.push(ilike(images.name, `%${q.search.replace(/[\\%_]/g, (c) => `\\${c}`)}%`));
    const perPage = q.perPage ?? IMAGES_PER_PAGE_MAX;
    return this.db.select().from(images).where(and(...conds)).orderBy(asc(images.id))
      .limit(perPage).offset(((q.page ?? 1) - 1) * perPage);
  }

  async imageById(id: number): Promise<Image> {
    const [row] = await this.db.select().from(images).where(eq(images.id, id));
    if (!row) throw new NotFoundError("image", id);
    return row;
  }

  /** A region is known when an environment, a flavor or an image is in it. */
  private async checkRegion(region: string): Promise<void> {
    const known = async (q: Promise<{ n: number }[]>): Promise<boolean> => Number((await q)[0]?.n ?? 0) > 0;
    if (await known(this.db.select({ n: count() }).from(environments).where(eq(environments.region, region)))) return;
    if (await known(this.db.select({ n: count() }).from(flavors).where(eq(flavors.regionName, region)))) return;
    if (await known(this.db.select({ n: count() }).from(images).where(eq(images.regionName, region)))) return;
    throw new NotFoundError("region", region);
  }

  private async environmentsByRegion(): Promise<Map<string, string[]>> {
    const byRegion = new Map<string, string[]>();
    for (const e of await this.db.select({ name: environments.name, region: environments.region }).from(environments)) {
      byRegion.set(e.region, [...(byRegion.get(e.region) ?? []), e.name]);
    }
    return byRegion;
  }

  /** The environment, flavor and image a deploy names, each refused with a 400 naming its field. */
  async resolveDeploy(input: DeployCatalogInput): Promise<DeployCatalog> {
    const environment = await this.environment(input.environment_name);
    const [flavor] = await this.db.select().from(flavors).where(eq(flavors.name, input.flavor_name));
    if (!flavor) throw new InvalidArgumentError("flavor_name", `flavor "${input.flavor_name}" does not exist`);
    if (flavor.retiredAt) throw new InvalidArgumentError("flavor_name", `flavor "${input.flavor_name}" is retired`);
    const image = await this.image(input.image_name);
    return { flavor, image, environment };
  }

  /** The image named, or (none named) the first one: a dry run only needs its OS type. */
  private async image(name: string | undefined): Promise<Image> {
    const [image] = name !== undefined
      ? await this.db.select().from(images).where(eq(images.name, name))
      : await this.db.select().from(images).orderBy(asc(images.id)).limit(1);
    if (image) return image;
    throw new InvalidArgumentError("image_name", name !== undefined ? `image "${name}" does not exist` : "no image exists yet");
  }

  /** The environment named, or the only one there is. */
  private async environment(name: string | undefined): Promise<Environment> {
    if (name) {
      const [env] = await this.db.select().from(environments).where(eq(environments.name, name));
      if (!env) throw new InvalidArgumentError("environment_name", `environment "${name}" does not exist`);
      return env;
    }
    const all = await this.db.select().from(environments).limit(2);
    if (all.length === 1) return all[0]!;
    if (all.length === 0) throw new InvalidArgumentError("environment_name", "no environment exists yet: no host has registered");
    throw new InvalidArgumentError("environment_name", "environment_name is required when there is more than one environment");
  }
}
