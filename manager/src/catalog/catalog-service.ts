// What a VM can be made of: flavors, images and environments, read by name for a deploy (VM
// create and the admin's placement dry run share one look-up, so they refuse alike) and listed
// for the catalog routes.
import { asc, eq } from "drizzle-orm";
import { InvalidArgumentError } from "#shared/errors.js";
import type { Db } from "../db/database.js";
import { flavors, images } from "../db/schema.js";
import { EnvironmentService, type Environment } from "../environments/environment-service.js";

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

export class CatalogService {
  private readonly environments: EnvironmentService;

  constructor(private readonly db: Db) {
    this.environments = new EnvironmentService(db);
  }

  async flavors(): Promise<Flavor[]> {
    return this.db.select().from(flavors).orderBy(asc(flavors.id));
  }

  async images(): Promise<Image[]> {
    return this.db.select().from(images).orderBy(asc(images.id));
  }

  /**
   * The account's environment (a region's implicit one is created on first use), flavor and image
   * a deploy names, each refused with a 400 naming its field.
   */
  async resolveDeploy(accountId: number, input: DeployCatalogInput): Promise<DeployCatalog> {
    const [flavor] = await this.db.select().from(flavors).where(eq(flavors.name, input.flavor_name));
    if (!flavor) throw new InvalidArgumentError("flavor_name", `flavor "${input.flavor_name}" does not exist`);
    const image = await this.image(input.image_name);
    // Last: it may create the implicit environment, which a refused flavor or image must not.
    const environment = input.environment_name
      ? await this.environments.named(accountId, input.environment_name, "environment_name", "400")
      : await this.environments.only(accountId);
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
}
