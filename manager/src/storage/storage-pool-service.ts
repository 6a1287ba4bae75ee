// Storage pools (admin): where volumes, VMs' root disks (root-disks.ts) and the snapshots in them
// (snapshot-pool-use.ts) live, per cluster, with the capacity the manager tracks.
// A volume's size is reserved in its pool by one conditional UPDATE (allocated + size must stay
// within capacity), so concurrent creates can never take the pool past its capacity.
import { and, asc, count, eq, inArray, isNull, sql } from "drizzle-orm";
import { AlreadyExistsError, ConflictError, InvalidArgumentError, NotFoundError } from "#shared/errors.js";
import type { Db, Tx } from "../db/database.js";
import { isUniqueViolation } from "../db/postgres-errors.js";
import { clusters, regions, storagePools, vms, vmSnapshots, volumes, type StoragePoolKind } from "../db/schema.js";

export const STORAGE_POOL_KINDS: readonly StoragePoolKind[] = ["local", "shared"];

/** Where a cluster's seeded local pool keeps its volumes: relative to each agent's images directory. */
export const DEFAULT_LOCAL_POOL_PATH = "volumes";
/**
 * The seeded local pool's capacity (GiB): a placeholder (root disks count in it, and a GPU
 * flavor's disk is hundreds of GiB), since hosts do not report their disks yet; admins set the
 * real one with PATCH /v1/admin/storage-pools/{id}.
 */
export const DEFAULT_LOCAL_POOL_CAPACITY_GIB = 16_384;

export interface StoragePool {
  id: number;
  name: string;
  clusterId: number;
  clusterName: string;
  region: string;
  kind: StoragePoolKind;
  path: string;
  capacityGib: number;
  allocatedGib: number;
  volumeCount: number;
  /** VMs whose root disk is counted here. */
  rootDiskCount: number;
  /** VM snapshots whose disk use is counted here, and the GiB they count. */
  snapshotCount: number;
  snapshotGib: number;
  createdAt: Date;
  updatedAt: Date;
}

export interface CreateStoragePoolInput { name: string; clusterId: number; kind: StoragePoolKind; path: string; capacityGib: number }
export interface ChangeStoragePoolInput { name?: string | undefined; path?: string | undefined; capacityGib?: number | undefined }

const liveVolumes = sql<number>`(select count(*) from ${volumes} where ${volumes.poolId} = ${storagePools.id} and ${volumes.deletedAt} is null)::int`;
const rootDisks = sql<number>`(select count(*) from ${vms} where ${vms.rootDiskPoolId} = ${storagePools.id})::int`;
const snapshotsHeld = sql<number>`(select count(*) from ${vmSnapshots} where ${vmSnapshots.poolId} = ${storagePools.id})::int`;
const snapshotGib = sql<number>`(select coalesce(sum(${vmSnapshots.poolGib}), 0) from ${vmSnapshots} where ${vmSnapshots.poolId} = ${storagePools.id})::int`;
const columns = {
  id: storagePools.id, name: storagePools.name, clusterId: storagePools.clusterId, clusterName: clusters.name, region: regions.name,
  kind: storagePools.kind, path: storagePools.path, capacityGib: storagePools.capacityGib, allocatedGib: storagePools.allocatedGib,
  volumeCount: liveVolumes, rootDiskCount: rootDisks, snapshotCount: snapshotsHeld, snapshotGib, createdAt: storagePools.createdAt, updatedAt: storagePools.updatedAt,
};

/** The pool every new cluster gets, so volumes work before an admin configures storage. */
export async function seedLocalPool(db: Db | Tx, clusterId: number, regionName: string, clusterName: string): Promise<void> {
  await db.insert(storagePools).values({
    name: `${regionName}-${clusterName}-local`, clusterId, kind: "local", path: DEFAULT_LOCAL_POOL_PATH, capacityGib: DEFAULT_LOCAL_POOL_CAPACITY_GIB,
  }).onConflictDoNothing();
}

export class StoragePoolService {
  constructor(private readonly db: Db) {}

  async list(): Promise<StoragePool[]> {
    return this.select().orderBy(asc(storagePools.id));
  }

  async get(id: number): Promise<StoragePool> {
    const [row] = await this.select().where(eq(storagePools.id, id));
    if (!row) throw new NotFoundError("storage pool", id);
    return row;
  }

  async create(input: CreateStoragePoolInput): Promise<StoragePool> {
    const [cluster] = await this.db.select({ id: clusters.id }).from(clusters).where(eq(clusters.id, input.clusterId));
    if (!cluster) throw new InvalidArgumentError("cluster_id", `cluster ${input.clusterId} does not exist`);
    try {
      const [row] = await this.db.insert(storagePools).values(input).returning({ id: storagePools.id });
      return this.get(row!.id);
    } catch (e) {
      if (isUniqueViolation(e)) throw this.nameTaken(input.name);
      throw e;
    }
  }

  /** A capacity below what the pool's volumes hold is refused (the pool would be over-full). */
  async change(id: number, input: ChangeStoragePoolInput): Promise<StoragePool> {
    await this.get(id);
    try {
      const [row] = await this.db.update(storagePools).set({
        ...(input.name !== undefined ? { name: input.name } : {}),
        ...(input.path !== undefined ? { path: input.path } : {}),
        ...(input.capacityGib !== undefined ? { capacityGib: input.capacityGib } : {}),
        updatedAt: new Date(),
      }).where(and(eq(storagePools.id, id), input.capacityGib !== undefined ? sql`${storagePools.allocatedGib} <= ${input.capacityGib}` : undefined))
        .returning({ id: storagePools.id });
      if (!row) {
        const pool = await this.get(id);
        throw new ConflictError(`storage pool ${pool.name}: capacity ${input.capacityGib} GiB is below the ${pool.allocatedGib} GiB its volumes, root disks and snapshots hold`, "over_allocated");
      }
      return this.get(id);
    } catch (e) {
      if (isUniqueViolation(e)) throw this.nameTaken(input.name ?? "");
      throw e;
    }
  }

  /** Only an empty pool (no live volume, no VM's root disk or snapshot) can be deleted. */
  async delete(id: number): Promise<void> {
    await this.db.transaction(async (tx) => {
      const [pool] = await tx.select().from(storagePools).where(eq(storagePools.id, id)).for("update");
      if (!pool) throw new NotFoundError("storage pool", id);
      const [held] = await tx.select({ n: count() }).from(volumes).where(and(eq(volumes.poolId, id), isNull(volumes.deletedAt)));
      if (Number(held?.n ?? 0) > 0) throw new ConflictError(`storage pool ${pool.name} holds ${held!.n} volume(s): delete them first`, "in_use");
      const [disks] = await tx.select({ n: count() }).from(vms).where(eq(vms.rootDiskPoolId, id));
      if (Number(disks?.n ?? 0) > 0) throw new ConflictError(`storage pool ${pool.name} holds the root disks of ${disks!.n} virtual machine(s): delete them first`, "in_use");
      const [snaps] = await tx.select({ n: count() }).from(vmSnapshots).where(eq(vmSnapshots.poolId, id));
      if (Number(snaps?.n ?? 0) > 0) throw new ConflictError(`storage pool ${pool.name} holds ${snaps!.n} VM snapshot(s): delete them first`, "in_use");
      // Deleted volumes keep pointing at their pool: the pool row goes only when none ever did.
      const [ever] = await tx.select({ n: count() }).from(volumes).where(eq(volumes.poolId, id));
      if (Number(ever?.n ?? 0) > 0) {
        throw new ConflictError(`storage pool ${pool.name} is referenced by deleted volumes' history; set its capacity to 0 instead`, "in_use");
      }
      await tx.delete(storagePools).where(eq(storagePools.id, id));
    });
  }

  private select() {
    return this.db.select(columns).from(storagePools).innerJoin(clusters, eq(clusters.id, storagePools.clusterId))
      .innerJoin(regions, eq(regions.id, clusters.regionId)).$dynamic();
  }

  private nameTaken(name: string): AlreadyExistsError {
    return new AlreadyExistsError("storage pool", `"${name}"`, `a storage pool named "${name}" already exists`);
  }
}

/**
 * Reserves `sizeGib` in one of the pools (tried in order) with one conditional UPDATE each; the
 * first that has room wins. Refused with every pool's numbers when none has.
 */
export async function reservePoolCapacity(tx: Tx, pools: { id: number; name: string }[], sizeGib: number): Promise<number> {
  for (const p of pools) {
    const [hit] = await tx.update(storagePools).set({ allocatedGib: sql`${storagePools.allocatedGib} + ${sizeGib}` })
      .where(and(eq(storagePools.id, p.id), sql`${storagePools.allocatedGib} + ${sizeGib} <= ${storagePools.capacityGib}`))
      .returning({ id: storagePools.id });
    if (hit) return hit.id;
  }
  const rows = await tx.select().from(storagePools).where(inArray(storagePools.id, pools.map((p) => p.id))).orderBy(asc(storagePools.id));
  const numbers = rows.map((r) => `storage pool ${r.name} has ${r.capacityGib - r.allocatedGib} GiB free (capacity ${r.capacityGib} GiB, allocated ${r.allocatedGib} GiB)`);
  // A conflict with the pools' state (not a VM placement's insufficient_capacity, whose body reports hosts).
  throw new ConflictError(`a ${sizeGib} GiB volume does not fit: ${numbers.join("; ")}`, "storage_pool_full", {
    pools: rows.map((r) => ({ name: r.name, capacity_gib: r.capacityGib, allocated_gib: r.allocatedGib })),
  });
}

export async function releasePoolCapacity(tx: Tx, poolId: number, sizeGib: number): Promise<void> {
  await tx.update(storagePools).set({ allocatedGib: sql`greatest(${storagePools.allocatedGib} - ${sizeGib}, 0)` }).where(eq(storagePools.id, poolId));
}
