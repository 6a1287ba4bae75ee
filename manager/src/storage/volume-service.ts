// Volumes of an account (Hyperstack's volumes): create (its size reserved in a storage pool of
// its type in its environment's region), list, get, delete, and attach to / detach from the
// account's VMs, each attach or detach a job (jobs/volume.job.ts). Volumes are scoped to the
// caller's account for every role: another account's volume is not found. Every refusal is
// decided before anything is written, inside the transaction that would write.
import { randomUUID } from "node:crypto";
import { and, asc, count, desc, eq, ilike, inArray, isNull, or, sql, type SQL } from "drizzle-orm";
import { ConflictError, InvalidArgumentError, NotFoundError, OrbitError } from "#shared/errors.js";
import { refuseWithSnapshots } from "../vm/vm-snapshots.js";
import { validateCallbackUrl, type CallbackAddressPolicy } from "../callbacks/callback-url.js";
import type { Db, Tx } from "../db/database.js";
import { containsPattern } from "../db/like-pattern.js";
import {
  clusters, environments, hosts, images, jobs, regions, storagePools, vms, volumeAttachments, volumes,
  type StoragePoolKind, type VolumeAttachmentStatus, type VolumeStatus,
} from "../db/schema.js";
import { imageVisibleTo, requireImageInRegion } from "../catalog/image-access.js";
import { EnvironmentService, type Environment } from "../environments/environment-service.js";
import { releasePoolCapacity, reservePoolCapacity, STORAGE_POOL_KINDS } from "./storage-pool-service.js";
import { announceVolumeCreated, announceVolumeDeleted, setVolumeStatus } from "./volume-status.js";

export interface VolumeOwner { accountId: number; role?: "admin" | "user" | undefined }

export interface VolumeAttachment {
  id: number;
  vmId: number;
  status: VolumeAttachmentStatus;
  /** "/dev/vdb" once attached, "" before. */
  device: string;
  protected: boolean;
  createdAt: Date;
}

export interface Volume {
  id: number;
  uuid: string;
  name: string;
  environment: Environment;
  pool: { id: number; name: string; kind: StoragePoolKind };
  sizeGib: number;
  /** The image of a bootable volume, null for a data volume. */
  image: { id: number; name: string } | null;
  description: string;
  callbackUrl: string;
  status: VolumeStatus;
  /** Where the agent finds the disk (relative to its images directory, or absolute). */
  path: string;
  /** A local volume's host (set by its first attach). */
  host: { id: number; name: string } | null;
  attachment: VolumeAttachment | null;
  createdAt: Date;
  updatedAt: Date;
}

/** An attachment as a VM shows it: with its volume. */
export interface VmVolumeAttachment extends VolumeAttachment { volume: Pick<Volume, "id" | "name" | "sizeGib" | "description"> & { bootable: boolean; volumeType: StoragePoolKind } }

export interface CreateVolumeInput {
  name: string;
  environmentName: string;
  sizeGib: number;
  volumeType: string;
  imageId?: number | undefined;
  description?: string | undefined;
  callbackUrl?: string | undefined;
}

export interface ListVolumesInput { page: number; pageSize: number; search?: string | undefined; environment?: string | undefined }

/** VM states in which volumes attach and detach: hot when Running, to the definition when Stopped. */
const ATTACHABLE_VM_STATES = ["Running", "Stopped"];

type VolumeRow = typeof volumes.$inferSelect;

/** What an attach or detach did: each volume's attachment as it now is, and the job per volume. */
export type AttachmentChanges = { attachments: (VolumeAttachment & { volumeId: number })[]; jobIds: number[] };

export class VolumeService {
  private readonly environments: EnvironmentService;

  constructor(
    private readonly db: Db,
    private readonly jobsQueue: { enqueue(jobId: number): void },
    private readonly callbackPolicy: () => CallbackAddressPolicy,
  ) {
    this.environments = new EnvironmentService(db);
  }

  /** The kinds of the storage pools there are (Hyperstack's volume types). */
  async volumeTypes(): Promise<StoragePoolKind[]> {
    const rows = await this.db.selectDistinct({ kind: storagePools.kind }).from(storagePools);
    return STORAGE_POOL_KINDS.filter((k) => rows.some((r) => r.kind === k));
  }

  async create(owner: VolumeOwner, input: CreateVolumeInput): Promise<Volume> {
    const kind = STORAGE_POOL_KINDS.find((k) => k === input.volumeType);
    if (!kind) throw new InvalidArgumentError("volume_type", `volume_type "${input.volumeType}" is not one of ${STORAGE_POOL_KINDS.join(", ")} (GET /v1/core/volume-types)`);
    const callbackUrl = input.callbackUrl ? validateCallbackUrl(input.callbackUrl, "callback_url", this.callbackPolicy()) : "";
    const env = await this.environments.named(owner.accountId, input.environmentName);
    let imageId: number | null = null;
    if (input.imageId !== undefined) {
      const [image] = await this.db.select().from(images).where(eq(images.id, input.imageId));
      if (!image || !imageVisibleTo(image, owner)) throw new NotFoundError("image", input.imageId);
      requireImageInRegion(image, env.region, "image_id", `environment "${env.name}"`);
      if (input.sizeGib < image.sizeGib) throw new InvalidArgumentError("size", `a volume of image ${image.name} needs at least ${image.sizeGib} GB; ${input.sizeGib} asked`);
      imageId = image.id;
    }
    // The region's pools of that type, the emptiest first.
    const pools = await this.db.select({ id: storagePools.id, name: storagePools.name, path: storagePools.path }).from(storagePools)
      .innerJoin(clusters, eq(clusters.id, storagePools.clusterId))
      .where(and(eq(storagePools.kind, kind), eq(clusters.regionId, env.regionId)))
      .orderBy(desc(sql`${storagePools.capacityGib} - ${storagePools.allocatedGib}`), asc(storagePools.id));
    if (pools.length === 0) throw new InvalidArgumentError("volume_type", `region ${env.region} has no storage pool of volume type ${kind}`);
    const uuid = randomUUID();
    const id = await this.db.transaction(async (tx) => {
      const poolId = await reservePoolCapacity(tx, pools, input.sizeGib);
      const pool = pools.find((p) => p.id === poolId)!;
      const [row] = await tx.insert(volumes).values({
        uuid, name: input.name, accountId: owner.accountId, environmentId: env.id, poolId, sizeGib: input.sizeGib, imageId,
        description: input.description ?? "", callbackUrl, status: "available", path: `${pool.path.replace(/\/+$/, "")}/${uuid}.qcow2`,
      }).returning();
      await announceVolumeCreated(tx, row!);
      return row!.id;
    });
    return this.get(owner, id);
  }

  /** The caller's volumes by id, a page at a time; `environment` is an environment's id or name. */
  async list(owner: VolumeOwner, input: ListVolumesInput): Promise<{ volumes: Volume[]; total: number }> {
    const env = input.environment;
    const where = and(
      eq(volumes.accountId, owner.accountId), isNull(volumes.deletedAt),
      input.search ? ilike(volumes.name, containsPattern(input.search)) : undefined,
      env !== undefined ? inArray(volumes.environmentId, this.db.select({ id: environments.id }).from(environments).where(and(
        eq(environments.accountId, owner.accountId),
        or(eq(environments.name, env), /^\d{1,9}$/.test(env) ? eq(environments.id, Number(env)) : undefined),
      ))) : undefined,
    );
    const [rows, [totals]] = await Promise.all([
      this.db.select().from(volumes).where(where).orderBy(asc(volumes.id)).limit(input.pageSize).offset((input.page - 1) * input.pageSize),
      this.db.select({ n: count() }).from(volumes).where(where),
    ]);
    return { volumes: await this.details(rows), total: Number(totals?.n ?? 0) };
  }

  async get(owner: VolumeOwner, id: number): Promise<Volume> {
    const [row] = await this.db.select().from(volumes).where(this.owned(owner, id));
    if (!row) throw new NotFoundError("volume", id);
    return (await this.details([row]))[0]!;
  }

  /** Refused while attached; gives the volume's size back to its pool at once, its file is removed by a job. */
  async delete(owner: VolumeOwner, id: number): Promise<{ jobId: number | null }> {
    const jobId = await this.db.transaction(async (tx) => {
      const [row] = await tx.select().from(volumes).where(this.owned(owner, id)).for("update");
      if (!row) throw new NotFoundError("volume", id);
      const [att] = await tx.select().from(volumeAttachments).where(eq(volumeAttachments.volumeId, id));
      if (att) throw new ConflictError(`volume ${id} is attached to virtual machine ${att.vmId} (${att.status}): detach it first`, "in-use");
      return deleteVolumeRow(tx, row);
    });
    if (jobId != null) this.jobsQueue.enqueue(jobId);
    return { jobId };
  }

  /** Whether the account has no live volume of this name (names are not unique; this is advice for a create). */
  async nameAvailable(owner: VolumeOwner, name: string): Promise<boolean> {
    const [row] = await this.db.select({ id: volumes.id }).from(volumes)
      .where(and(eq(volumes.accountId, owner.accountId), eq(volumes.name, name), isNull(volumes.deletedAt))).limit(1);
    return row === undefined;
  }

  /**
   * Moves a detached volume to another environment of the account whose region holds the volume's
   * storage pool (its file stays where it is). Refused while attached (409); an unknown target is
   * 404, one in another region 400, both decided before the implicit environment would be created.
   */
  async changeEnvironment(owner: VolumeOwner, id: number, environmentName: string): Promise<{ volume: Volume; changed: boolean }> {
    const changed = await this.db.transaction(async (tx) => {
      const [row] = await tx.select().from(volumes).where(this.owned(owner, id)).for("update");
      if (!row) throw new NotFoundError("volume", id);
      const [att] = await tx.select().from(volumeAttachments).where(eq(volumeAttachments.volumeId, id));
      if (att) throw new ConflictError(`volume ${id} is attached to virtual machine ${att.vmId} (${att.status}): detach it before changing its environment`, "in-use");
      const [pool] = await tx.select({ name: storagePools.name, regionId: clusters.regionId, region: regions.name }).from(storagePools)
        .innerJoin(clusters, eq(clusters.id, storagePools.clusterId)).innerJoin(regions, eq(regions.id, clusters.regionId))
        .where(eq(storagePools.id, row.poolId));
      const target = await this.targetRegion(tx, owner, environmentName);
      if (target.regionId !== pool!.regionId) {
        throw new InvalidArgumentError("environment_name", `environment "${environmentName}" is in region ${target.region}; volume ${id} is stored in region ${pool!.region} (pool ${pool!.name}) and moves only within it`);
      }
      // A region's implicit environment is created here, in this transaction, as a VM naming it would.
      await tx.insert(environments).values({ accountId: owner.accountId, name: environmentName, regionId: target.regionId }).onConflictDoNothing();
      const [env] = await tx.select({ id: environments.id }).from(environments)
        .where(and(eq(environments.accountId, owner.accountId), eq(environments.name, environmentName)));
      if (env!.id === row.environmentId) return false;
      await tx.update(volumes).set({ environmentId: env!.id, updatedAt: new Date() }).where(eq(volumes.id, id));
      return true;
    });
    return { volume: await this.get(owner, id), changed };
  }

  /** The region of an environment of the account, or of the implicit one a region's name would create (404 for neither). */
  private async targetRegion(tx: Tx, owner: VolumeOwner, name: string): Promise<{ regionId: number; region: string }> {
    const [env] = await tx.select({ regionId: environments.regionId, region: regions.name }).from(environments)
      .innerJoin(regions, eq(regions.id, environments.regionId))
      .where(and(eq(environments.accountId, owner.accountId), eq(environments.name, name)));
    if (env) return env;
    const [region] = await tx.select({ regionId: regions.id, region: regions.name }).from(regions).where(eq(regions.name, name));
    if (region) return region;
    throw new OrbitError("not_found", `environment "${name}" does not exist`, { details: { resource: "environment", id: name, field: "environment_name" } });
  }

  /** Sets an attachment's protected flag (a protected attachment refuses detach); another account's attachment is not found. */
  async setAttachmentProtected(owner: VolumeOwner, attachmentId: number, protect: boolean): Promise<VolumeAttachment & { volumeId: number }> {
    return this.db.transaction(async (tx) => {
      const [found] = await tx.select({ a: volumeAttachments }).from(volumeAttachments)
        .innerJoin(volumes, eq(volumes.id, volumeAttachments.volumeId))
        .where(and(eq(volumeAttachments.id, attachmentId), eq(volumes.accountId, owner.accountId), isNull(volumes.deletedAt)))
        .for("update");
      if (!found) throw new NotFoundError("volume attachment", attachmentId);
      const [a] = await tx.update(volumeAttachments).set({ protected: protect }).where(eq(volumeAttachments.id, attachmentId)).returning();
      return { ...toAttachment(a!), volumeId: a!.volumeId };
    });
  }

  /**
   * Attaches volumes to a VM of the caller's (Running: hot; Stopped: to its definition), one job
   * each. All are checked first: one refusal attaches none.
   */
  async attach(owner: VolumeOwner, vmId: number, volumeIds: number[], protect = false): Promise<AttachmentChanges> {
    const out = await this.db.transaction(async (tx) => {
      const vm = await this.lockVm(tx, owner, vmId, volumeIds, "attach");
      const [host] = await tx.select({ id: hosts.id, name: hosts.name, clusterId: hosts.clusterId }).from(hosts).where(eq(hosts.id, vm.hostId!));
      const rows = await this.lockVolumes(tx, owner, volumeIds);
      const attached = await tx.select().from(volumeAttachments).where(inArray(volumeAttachments.volumeId, volumeIds));
      const pools = await tx.select().from(storagePools).where(inArray(storagePools.id, rows.map((r) => r.poolId)));
      const volumeHosts = await hostNames(tx, rows.flatMap((r) => (r.hostId == null ? [] : [r.hostId])));
      const clusterPools = await tx.select().from(storagePools).where(eq(storagePools.clusterId, host!.clusterId))
        .orderBy(desc(sql`${storagePools.capacityGib} - ${storagePools.allocatedGib}`), asc(storagePools.id));
      for (const v of rows) {
        const a = attached.find((x) => x.volumeId === v.id);
        if (a) {
          const what = v.imageId != null ? "bootable volume" : "volume";
          throw new ConflictError(a.vmId === vm.id
            ? `volume ${v.id} is already attached to virtual machine ${vm.id}`
            : `volume ${v.id} is attached to virtual machine ${a.vmId}: a ${what} attaches to one VM at a time`, "in-use");
        }
        if (v.status !== "available") throw new ConflictError(`volume ${v.id} is ${v.status}, not available`, v.status);
        if (v.environmentId !== vm.environmentId) {
          throw new ConflictError(`volume ${v.id} is in another environment than virtual machine ${vm.id}: a volume attaches to VMs of its environment`, "wrong_environment");
        }
        const pool = pools.find((p) => p.id === v.poolId)!;
        // A volume whose file no host has created yet moves to a pool of its kind in the VM's cluster (below).
        if (pool.clusterId !== host!.clusterId && (v.hostId != null || !clusterPools.some((p) => p.kind === pool.kind))) {
          throw new ConflictError(`volume ${v.id} is in storage pool ${pool.name}, which is not in the cluster of virtual machine ${vm.id}'s host ${host!.name}`, "wrong_cluster");
        }
        if (pool.kind === "local" && v.hostId != null && v.hostId !== host!.id) {
          throw new ConflictError(`local volume ${v.id} lives on host ${volumeHosts.get(v.hostId)}; virtual machine ${vm.id} runs on host ${host!.name}`, "wrong_host");
        }
      }
      const result: AttachmentChanges = { attachments: [], jobIds: [] };
      for (const v of rows) {
        const pool = pools.find((p) => p.id === v.poolId)!;
        if (pool.clusterId !== host!.clusterId) await moveToCluster(tx, v, clusterPools.filter((p) => p.kind === pool.kind));
        const [a] = await tx.insert(volumeAttachments).values({ volumeId: v.id, vmId: vm.id, status: "attaching", protected: protect }).returning();
        // Its file is created by the host of the VM it is first attached to (a local volume stays there).
        await setVolumeStatus(tx, v.id, "attaching", `attaching to virtual machine ${vm.id}`, v.hostId == null ? { hostId: host!.id } : {});
        const [job] = await tx.insert(jobs).values({ uuid: randomUUID(), kind: "volume.attach", vmId: vm.id, volumeId: v.id, accountId: owner.accountId })
          .returning({ id: jobs.id });
        result.attachments.push({ ...toAttachment(a!), volumeId: v.id });
        result.jobIds.push(job!.id);
      }
      return result;
    });
    for (const id of out.jobIds) this.jobsQueue.enqueue(id);
    return out;
  }

  /** Detaches volumes attached to the VM, one job each; one refusal detaches none. */
  async detach(owner: VolumeOwner, vmId: number, volumeIds: number[]): Promise<AttachmentChanges> {
    const out = await this.db.transaction(async (tx) => {
      const vm = await this.lockVm(tx, owner, vmId, volumeIds, "detach");
      const rows = await this.lockVolumes(tx, owner, volumeIds);
      const attached = await tx.select().from(volumeAttachments).where(inArray(volumeAttachments.volumeId, volumeIds));
      for (const v of rows) {
        const a = attached.find((x) => x.volumeId === v.id);
        if (!a || a.vmId !== vm.id) throw new ConflictError(`volume ${v.id} is not attached to virtual machine ${vm.id}`, "not_attached");
        if (a.status !== "attached") throw new ConflictError(`volume ${v.id} is ${a.status} on virtual machine ${vm.id}; wait for it to finish`, a.status);
        if (a.protected) throw new ConflictError(`the attachment of volume ${v.id} is protected`, "protected");
        if (vm.bootVolumeId === v.id) throw new ConflictError(`volume ${v.id} is the boot disk of virtual machine ${vm.id}: deleting the VM detaches it`, "boot_volume");
      }
      const result: AttachmentChanges = { attachments: [], jobIds: [] };
      for (const v of rows) {
        const [a] = await tx.update(volumeAttachments).set({ status: "detaching" }).where(eq(volumeAttachments.volumeId, v.id)).returning();
        await setVolumeStatus(tx, v.id, "detaching", `detaching from virtual machine ${vm.id}`);
        const [job] = await tx.insert(jobs).values({ uuid: randomUUID(), kind: "volume.detach", vmId: vm.id, volumeId: v.id, accountId: owner.accountId })
          .returning({ id: jobs.id });
        result.attachments.push({ ...toAttachment(a!), volumeId: v.id });
        result.jobIds.push(job!.id);
      }
      return result;
    });
    for (const id of out.jobIds) this.jobsQueue.enqueue(id);
    return out;
  }

  private async lockVm(tx: Tx, owner: VolumeOwner, vmId: number, volumeIds: number[], what: "attach" | "detach") {
    if (volumeIds.length === 0) throw new InvalidArgumentError("volume_ids", `volume_ids names no volume to ${what}`);
    const dup = volumeIds.find((id, i) => volumeIds.indexOf(id) !== i);
    if (dup !== undefined) throw new InvalidArgumentError("volume_ids", `volume ${dup} is named twice in volume_ids`);
    const [vm] = await tx.select().from(vms).where(and(eq(vms.id, vmId), eq(vms.accountId, owner.accountId), isNull(vms.deletedAt))).for("update");
    if (!vm || vm.state === "Destroyed") throw new NotFoundError("virtual machine", vmId);
    if (!ATTACHABLE_VM_STATES.includes(vm.state) || vm.hostId == null) {
      throw new ConflictError(`virtual machine ${vmId} is ${vm.state}: volumes ${what} when it is Running or Stopped`, vm.state);
    }
    // CloudStack's rule: a revert would bring back other disks than the VM has.
    await refuseWithSnapshots(tx, vmId, what);
    return vm;
  }

  /** The caller's live volumes of these ids, locked, in id order; an unknown one is not found. */
  private async lockVolumes(tx: Tx, owner: VolumeOwner, ids: number[]): Promise<VolumeRow[]> {
    const rows = await tx.select().from(volumes)
      .where(and(inArray(volumes.id, ids), eq(volumes.accountId, owner.accountId), isNull(volumes.deletedAt))).orderBy(asc(volumes.id)).for("update");
    const missing = ids.find((id) => !rows.some((r) => r.id === id));
    if (missing !== undefined) throw new NotFoundError("volume", missing);
    return rows;
  }

  private owned(owner: VolumeOwner, id: number): SQL | undefined {
    return and(eq(volumes.id, id), eq(volumes.accountId, owner.accountId), isNull(volumes.deletedAt));
  }

  private async details(rows: VolumeRow[]): Promise<Volume[]> {
    if (rows.length === 0) return [];
    const ids = rows.map((r) => r.id);
    const [envs, pools, imgs, atts, hostMap] = await Promise.all([
      this.db.select({
        id: environments.id, accountId: environments.accountId, name: environments.name, regionId: environments.regionId,
        region: regions.name, createdAt: environments.createdAt,
      }).from(environments).innerJoin(regions, eq(regions.id, environments.regionId))
        .where(inArray(environments.id, [...new Set(rows.map((r) => r.environmentId))])),
      this.db.select({ id: storagePools.id, name: storagePools.name, kind: storagePools.kind }).from(storagePools)
        .where(inArray(storagePools.id, [...new Set(rows.map((r) => r.poolId))])),
      this.db.select({ id: images.id, name: images.name }).from(images)
        .where(inArray(images.id, [0, ...new Set(rows.flatMap((r) => (r.imageId == null ? [] : [r.imageId])))])),
      this.db.select().from(volumeAttachments).where(inArray(volumeAttachments.volumeId, ids)),
      hostNames(this.db, rows.flatMap((r) => (r.hostId == null ? [] : [r.hostId]))),
    ]);
    return rows.map((r) => {
      const a = atts.find((x) => x.volumeId === r.id);
      return {
        id: r.id, uuid: r.uuid, name: r.name,
        environment: envs.find((e) => e.id === r.environmentId)!,
        pool: pools.find((p) => p.id === r.poolId)!,
        sizeGib: r.sizeGib,
        image: r.imageId == null ? null : imgs.find((i) => i.id === r.imageId) ?? { id: r.imageId, name: "" },
        description: r.description, callbackUrl: r.callbackUrl, status: r.status, path: r.path,
        host: r.hostId == null ? null : { id: r.hostId, name: hostMap.get(r.hostId) ?? "" },
        attachment: a ? toAttachment(a) : null,
        createdAt: r.createdAt, updatedAt: r.updatedAt,
      };
    });
  }
}

function toAttachment(a: typeof volumeAttachments.$inferSelect): VolumeAttachment {
  return { id: a.id, vmId: a.vmId, status: a.status, device: a.device, protected: a.protected, createdAt: a.createdAt };
}

async function hostNames(db: Db | Tx, ids: number[]): Promise<Map<number, string>> {
  if (ids.length === 0) return new Map();
  const rows = await db.select({ id: hosts.id, name: hosts.name }).from(hosts).where(inArray(hosts.id, [...new Set(ids)]));
  return new Map(rows.map((h) => [h.id, h.name]));
}

/**
 * A volume no host has created yet, first attached in another cluster than its pool's: its size
 * is reserved in a pool of its kind there (refused with the pools' numbers when none has room)
 * and given back to the old pool, in the attach's transaction.
 */
async function moveToCluster(tx: Tx, v: VolumeRow, candidates: { id: number; name: string; path: string }[]): Promise<void> {
  const poolId = await reservePoolCapacity(tx, candidates, v.sizeGib);
  await releasePoolCapacity(tx, v.poolId, v.sizeGib);
  const pool = candidates.find((p) => p.id === poolId)!;
  await tx.update(volumes).set({ poolId, path: `${pool.path.replace(/\/+$/, "")}/${v.uuid}.qcow2` }).where(eq(volumes.id, v.id));
}

/**
 * Marks a volume deleted and gives its size back to its pool, in the caller's transaction; when
 * a host created its file, queues the volume.delete job that removes it (the caller enqueues it).
 */
export async function deleteVolumeRow(tx: Tx, row: VolumeRow): Promise<number | null> {
  const now = new Date();
  await tx.update(volumes).set({ deletedAt: now, updatedAt: now }).where(eq(volumes.id, row.id));
  await announceVolumeDeleted(tx, row, now);
  await releasePoolCapacity(tx, row.poolId, row.sizeGib);
  if (row.hostId == null) return null;
  const [job] = await tx.insert(jobs).values({ uuid: randomUUID(), kind: "volume.delete", volumeId: row.id, accountId: row.accountId })
    .returning({ id: jobs.id });
  return job!.id;
}

/** The volumes attached to these VMs (any account: the caller already sees the VMs). */
export async function volumeAttachmentsOf(db: Db, vmIds: number[]): Promise<Map<number, VmVolumeAttachment[]>> {
  const out = new Map<number, VmVolumeAttachment[]>();
  if (vmIds.length === 0) return out;
  const rows = await db.select({ a: volumeAttachments, v: volumes, kind: storagePools.kind }).from(volumeAttachments)
    .innerJoin(volumes, eq(volumes.id, volumeAttachments.volumeId)).innerJoin(storagePools, eq(storagePools.id, volumes.poolId))
    .where(inArray(volumeAttachments.vmId, vmIds)).orderBy(asc(volumeAttachments.id));
  for (const { a, v, kind } of rows) {
    const list = out.get(a.vmId) ?? [];
    list.push({
      ...toAttachment(a),
      volume: { id: v.id, name: v.name, sizeGib: v.sizeGib, description: v.description, bootable: v.imageId != null, volumeType: kind },
    });
    out.set(a.vmId, list);
  }
  return out;
}
