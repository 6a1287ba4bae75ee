// What a VM can be made of: flavors, images and environments, read by name for a deploy (VM
// create and the admin's placement dry run share one look-up, so they refuse alike) and listed
// for the catalog routes.
import { asc, eq } from "drizzle-orm";
import { InvalidArgumentError } from "#shared/errors.js";
import type { Db } from "../db/database.js";
import { environments, flavors, images } from "../db/schema.js";

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

export class CatalogService {
  constructor(private readonly db: Db) {}

  async flavors(): Promise<Flavor[]> {
    return this.db.select().from(flavors).orderBy(asc(flavors.id));
  }

  async images(): Promise<Image[]> {
    return this.db.select().from(images).orderBy(asc(images.id));
  }

  /** The environment, flavor and image a deploy names, each refused with a 400 naming its field. */
  async resolveDeploy(input: DeployCatalogInput): Promise<DeployCatalog> {
    const environment = await this.environment(input.environment_name);
    const [flavor] = await this.db.select().from(flavors).where(eq(flavors.name, input.flavor_name));
    if (!flavor) throw new InvalidArgumentError("flavor_name", `flavor "${input.flavor_name}" does not exist`);
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
