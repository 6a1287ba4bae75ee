// Regions and environments (Hyperstack's model). A region is where hosts are (their clusters
// belong to one); an environment is an account's container for VMs and key pairs, in one region,
// its name unique in the account. Every region offers each account an implicit environment named
// after it (as Hyperstack gives each organisation a default environment per region): the first
// VM or key pair that names it creates it. Another account's environment is not found.
import { and, asc, count, eq, ilike, or, sql, type SQL } from "drizzle-orm";
import { AlreadyExistsError, ConflictError, InvalidArgumentError, NotFoundError, OrbitError } from "#shared/errors.js";
import type { Db } from "../db/database.js";
import { environments, keypairs, regions, vms, volumes } from "../db/schema.js";
import { isUniqueViolation } from "../db/postgres-errors.js";
import { containsPattern } from "../db/like-pattern.js";

export type Region = typeof regions.$inferSelect;

type NotFoundAs = "404" | "400";

/** Where a deploy goes before anything is created: the account's environment, or the region whose implicit one it would be. */
export interface EnvironmentTarget {
  name: string;
  region: string;
  environment?: Environment;
  /** The region of the implicit environment to create. */
  regionId?: number;
  field: string;
  notFound: NotFoundAs;
}

function environmentNotFound(name: string, field: string, notFound: NotFoundAs): OrbitError {
  const message = `environment "${name}" does not exist`;
  if (notFound === "400") return new InvalidArgumentError(field, message);
  return new OrbitError("not_found", message, { details: { resource: "environment", id: name, field } });
}

export interface Environment {
  id: number;
  accountId: number;
  name: string;
  regionId: number;
  /** The region's name. */
  region: string;
  createdAt: Date;
}

export interface ListEnvironmentsInput { page: number; pageSize: number; search?: string | undefined }

const columns = {
  id: environments.id, accountId: environments.accountId, name: environments.name,
  regionId: environments.regionId, region: regions.name, createdAt: environments.createdAt,
};

export class EnvironmentService {
  constructor(private readonly db: Db) {}

  async regions(): Promise<Region[]> {
    return this.db.select().from(regions).orderBy(asc(regions.id));
  }

  /** Admin: a new region (hosts join it by naming it in their agent's environment setting). */
  async createRegion(name: string, description = ""): Promise<Region> {
    const [row] = await this.db.insert(regions).values({ name, description }).onConflictDoNothing().returning();
    if (!row) throw new AlreadyExistsError("region", `"${name}"`, `a region named "${name}" already exists`);
    return row;
  }

  /** The account's environments by id, a page at a time; `search` matches id, name or region. */
  async list(accountId: number, input: ListEnvironmentsInput): Promise<{ environments: Environment[]; total: number }> {
    const search = input.search;
    const matches = search
      ? or(ilike(environments.name, containsPattern(search)), ilike(regions.name, containsPattern(search)),
        /^\d{1,9}$/.test(search) ? eq(environments.id, Number(search)) : undefined)
      : undefined;
    const where = and(eq(environments.accountId, accountId), matches);
    const [rows, [totals]] = await Promise.all([
      this.db.select(columns).from(environments).innerJoin(regions, eq(regions.id, environments.regionId))
        .where(where).orderBy(asc(environments.id)).limit(input.pageSize).offset((input.page - 1) * input.pageSize),
      this.db.select({ n: count() }).from(environments).innerJoin(regions, eq(regions.id, environments.regionId)).where(where),
    ]);
    return { environments: rows, total: Number(totals?.n ?? 0) };
  }

  async get(accountId: number, id: number): Promise<Environment> {
    const [env] = await this.select(and(eq(environments.id, id), eq(environments.accountId, accountId)));
    if (!env) throw new NotFoundError("environment", id);
    return env;
  }

  /** Whether the account has no environment of this name (a create with it would not be refused as taken). */
  async nameAvailable(accountId: number, name: string): Promise<boolean> {
    const [row] = await this.db.select({ id: environments.id }).from(environments)
      .where(and(eq(environments.accountId, accountId), eq(environments.name, name))).limit(1);
    return row === undefined;
  }

  /** A new environment of the account in the region named (a 404 naming `region` when there is none). */
  async create(accountId: number, name: string, regionName: string): Promise<Environment> {
    const [region] = await this.db.select().from(regions).where(eq(regions.name, regionName));
    if (!region) {
      throw new OrbitError("not_found", `region "${regionName}" does not exist`, { details: { resource: "region", id: regionName, field: "region" } });
    }
    const [row] = await this.db.insert(environments).values({ accountId, name, regionId: region.id }).onConflictDoNothing().returning();
    if (!row) throw this.nameTaken(name);
    return { ...row, region: region.name };
  }

  async rename(accountId: number, id: number, name: string): Promise<Environment> {
    const current = await this.get(accountId, id);
    if (current.name === name) return current;
    try {
      await this.db.update(environments).set({ name }).where(and(eq(environments.id, id), eq(environments.accountId, accountId)));
    } catch (e) {
      if (isUniqueViolation(e)) throw this.nameTaken(name);
      throw e;
    }
    return { ...current, name };
  }

  /** Refused (409, naming what it holds) while VMs or key pairs are in it; deleted VMs' rows count. */
  async delete(accountId: number, id: number): Promise<void> {
    await this.db.transaction(async (tx) => {
      const [env] = await tx.select({ id: environments.id }).from(environments)
        .where(and(eq(environments.id, id), eq(environments.accountId, accountId))).for("update");
      if (!env) throw new NotFoundError("environment", id);
      const [[v], [k], [vol]] = await Promise.all([
        tx.select({ n: count(), deleted: count(vms.deletedAt) }).from(vms).where(eq(vms.environmentId, id)),
        tx.select({ n: count() }).from(keypairs).where(eq(keypairs.environmentId, id)),
        tx.select({ n: count(), deleted: count(volumes.deletedAt) }).from(volumes).where(eq(volumes.environmentId, id)),
      ]);
      const volumeCount = Number(vol?.n ?? 0);
      const deletedVolumes = Number(vol?.deleted ?? 0);
      const vmCount = Number(v?.n ?? 0);
      const deletedVms = Number(v?.deleted ?? 0);
      const keyPairCount = Number(k?.n ?? 0);
      // Deleted VMs' rows stay for their history (events, metrics), and they point at their environment.
      const held = [
        vmCount > 0 ? `${vmCount} VM(s)${deletedVms > 0 ? ` (${deletedVms} deleted, kept for their history)` : ""}` : undefined,
        keyPairCount > 0 ? `${keyPairCount} key pair(s)` : undefined,
        volumeCount > 0 ? `${volumeCount} volume(s)${deletedVolumes > 0 ? ` (${deletedVolumes} deleted, kept for their history)` : ""}` : undefined,
      ].filter((x) => x !== undefined);
      if (held.length > 0) {
        throw new ConflictError(`environment ${id} still holds ${held.join(" and ")}`, undefined,
          { vms: vmCount, deleted_vms: deletedVms, keypairs: keyPairCount, volumes: volumeCount });
      }
      await tx.delete(environments).where(eq(environments.id, id));
    });
  }

  /**
   * The account's environment of that name; when it has none, the implicit one of the region of
   * that name, created now. Unknown names are refused naming `field` (404 or 400 as `notFound` says).
   */
  async named(accountId: number, name: string, field = "environment_name", notFound: NotFoundAs = "404"): Promise<Environment> {
    return this.materialise(accountId, await this.locate(accountId, name, field, notFound));
  }

  /** For a deploy that names no environment: the account's only one, or the only region's implicit one. */
  async only(accountId: number, field = "environment_name"): Promise<Environment> {
    return this.materialise(accountId, await this.locateOnly(accountId, field));
  }

  /** What `named` would give, creating nothing (a deploy checks its region first). */
  async locate(accountId: number, name: string, field = "environment_name", notFound: NotFoundAs = "404"): Promise<EnvironmentTarget> {
    const [env] = await this.select(and(eq(environments.accountId, accountId), eq(environments.name, name)));
    if (env) return { name, region: env.region, environment: env, field, notFound };
    const [region] = await this.db.select().from(regions).where(eq(regions.name, name));
    if (region) return { name, region: region.name, regionId: region.id, field, notFound };
    throw environmentNotFound(name, field, notFound);
  }

  /** What `only` would give, creating nothing. */
  async locateOnly(accountId: number, field = "environment_name"): Promise<EnvironmentTarget> {
    const mine = await this.select(eq(environments.accountId, accountId), 2);
    if (mine.length === 1) return { name: mine[0]!.name, region: mine[0]!.region, environment: mine[0]!, field, notFound: "400" };
    if (mine.length > 1) throw new InvalidArgumentError(field, `${field} is required when there is more than one environment`);
    const all = await this.db.select().from(regions).where(sql`exists (select 1 from clusters c where c.region_id = ${regions.id})`).limit(2);
    if (all.length === 1) return this.locate(accountId, all[0]!.name, field, "400");
    if (all.length === 0) throw new InvalidArgumentError(field, "no environment exists yet: no host has registered");
    throw new InvalidArgumentError(field, `${field} is required when there is more than one region`);
  }

  /** The environment located: an implicit one is created now. */
  async materialise(accountId: number, target: EnvironmentTarget): Promise<Environment> {
    if (target.environment) return target.environment;
    await this.db.insert(environments).values({ accountId, name: target.name, regionId: target.regionId! }).onConflictDoNothing();
    const [created] = await this.select(and(eq(environments.accountId, accountId), eq(environments.name, target.name)));
    if (created) return created;
    throw environmentNotFound(target.name, target.field, target.notFound);
  }

  private select(where: SQL | undefined, limit?: number): Promise<Environment[]> {
    const q = this.db.select(columns).from(environments).innerJoin(regions, eq(regions.id, environments.regionId)).where(where).orderBy(asc(environments.id));
    return limit === undefined ? q : q.limit(limit);
  }

  private nameTaken(name: string): AlreadyExistsError {
    return new AlreadyExistsError("environment", `"${name}"`, `an environment named "${name}" already exists`);
  }
}
