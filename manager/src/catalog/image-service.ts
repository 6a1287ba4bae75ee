// Admin image management: register an image from an http(s) URL (its download runs as an
// `image.download` job), list, get, change where and to whom it is offered, and delete images
// whatever their status.
import { randomUUID } from "node:crypto";
import { rm } from "node:fs/promises";
import { join } from "node:path";
import { and, asc, count, eq, isNull, or } from "drizzle-orm";
import { AlreadyExistsError, ConflictError, InvalidArgumentError, NotFoundError } from "#shared/errors.js";
import type { Db } from "../db/database.js";
import { accounts, images, jobs, regions, vms } from "../db/schema.js";
import { EVERY_REGION } from "./image-access.js";
import type { Image } from "./catalog-service.js";
import { checkSourceUrl, parseChecksum, type ImageType } from "./image-source.js";

export const IMAGE_DOWNLOAD_JOB = "image.download";

export interface RegisterImageInput {
  name: string;
  url: string;
  checksum: string;
  type: ImageType;
  region?: string | undefined;
  os_type?: string | undefined;
  version?: string | undefined;
  description?: string | undefined;
  is_public?: boolean | undefined;
  /** The owning account: a non-public image is its alone (default then: not public). */
  account_id?: number | undefined;
  labels?: string[] | undefined;
  bootable?: boolean | undefined;
}

/** What PATCH /v1/admin/images/{id} may change; absent fields stay. */
export interface ChangeImageInput {
  region?: string | undefined;
  description?: string | undefined;
  labels?: string[] | undefined;
  is_public?: boolean | undefined;
  /** null: owned by no account. */
  account_id?: number | null | undefined;
}

export interface ImageCaller { accountId: number; userId?: number | null | undefined }

export interface ImageServiceOptions {
  db: Db;
  /** The manager's image store (downloaded images live here under their `path`). */
  storeDir: string;
  /** Starts a queued job (the job runner's enqueue). */
  enqueue: (jobId: number) => void;
}

/** The file name an image is stored under, in the manager's store and in each host's images dir. */
export const imageFileName = (id: number, type: ImageType): string => `image-${id}.${type === "iso" ? "iso" : "qcow2"}`;

export class ImageService {
  constructor(private readonly o: ImageServiceOptions) {}

  /** Stores the image as Downloading and queues its download; the image and the job's id. */
  async register(caller: ImageCaller, input: RegisterImageInput): Promise<{ image: Image; jobId: number }> {
    const url = checkSourceUrl(input.url);
    const { algorithm, hex } = parseChecksum(input.checksum);
    if (input.account_id !== undefined) await this.checkAccount(input.account_id);
    if (input.region !== undefined) await this.checkRegion(input.region);
    const out = await this.o.db.transaction(async (tx) => {
      const [created] = await tx.insert(images).values({
        name: input.name, status: "Downloading", sourceUrl: url, checksum: `${algorithm}:${hex}`, format: input.type,
        regionName: input.region ?? "default", osType: input.os_type ?? "linux", version: input.version ?? "",
        description: input.description ?? "", isPublic: input.is_public ?? input.account_id === undefined, accountId: input.account_id ?? null, labels: input.labels ?? [],
        bootable: input.bootable ?? true,
      }).onConflictDoNothing().returning();
      if (!created) throw new AlreadyExistsError("image", `"${input.name}"`);
      const [job] = await tx.insert(jobs).values({
        uuid: randomUUID(), kind: IMAGE_DOWNLOAD_JOB, accountId: caller.accountId, userId: caller.userId ?? null, input: { image_id: created.id },
      }).returning({ id: jobs.id });
      const [image] = await tx.update(images).set({ jobId: job!.id, path: imageFileName(created.id, input.type) })
        .where(eq(images.id, created.id)).returning();
      return { image: image!, jobId: job!.id };
    });
    this.o.enqueue(out.jobId);
    return out;
  }

  async list(): Promise<Image[]> {
    return this.o.db.select().from(images).orderBy(asc(images.id));
  }

  async get(id: number): Promise<Image> {
    const [row] = await this.o.db.select().from(images).where(eq(images.id, id));
    if (!row) throw new NotFoundError("image", id);
    return row;
  }

  /**
   * Changes where and to whom an image is offered. VMs made from it keep it whatever changes
   * (their disks are made); only new deploys see the change.
   */
  async change(id: number, input: ChangeImageInput): Promise<Image> {
    const current = await this.get(id);
    if (input.account_id != null) await this.checkAccount(input.account_id);
    if (input.region !== undefined) await this.checkRegion(input.region);
    const accountId = input.account_id === undefined ? current.accountId : input.account_id;
    const isPublic = input.is_public ?? (input.account_id === undefined ? current.isPublic : input.account_id === null);
    if (!isPublic && accountId === null) {
      throw new InvalidArgumentError("is_public", "a private image needs an owning account (account_id): nobody but admins could use it");
    }
    const [row] = await this.o.db.update(images).set({
      ...(input.region !== undefined ? { regionName: input.region } : {}),
      ...(input.description !== undefined ? { description: input.description } : {}),
      ...(input.labels !== undefined ? { labels: input.labels } : {}),
      isPublic, accountId,
    }).where(eq(images.id, id)).returning();
    if (!row) throw new NotFoundError("image", id);
    return row;
  }

  private async checkAccount(accountId: number): Promise<void> {
    const [owner] = await this.o.db.select({ id: accounts.id }).from(accounts).where(and(eq(accounts.id, accountId), isNull(accounts.deletedAt)));
    if (!owner) throw new InvalidArgumentError("account_id", `account ${accountId} does not exist`);
  }

  /** "" (every region) or a region the cloud knows: a typo would offer the image nowhere. */
  private async checkRegion(region: string): Promise<void> {
    if (region === EVERY_REGION) return;
    const known = (await this.o.db.select({ name: regions.name }).from(regions).orderBy(asc(regions.name))).map((r) => r.name);
    if (known.includes(region)) return;
    throw new InvalidArgumentError("region", `region "${region}" does not exist (known: ${known.length ? known.join(", ") : "none yet"}); "" offers the image in every region`);
  }

  /** Deletes an image no VM (live or deleted: they keep their image) uses or has in its cdrom, and its stored file. */
  async delete(id: number): Promise<void> {
    const image = await this.get(id);
    if (image.status === "Downloading") throw new ConflictError(`image ${id} is still downloading (job ${image.jobId}); delete it once it is Ready or Error`, "Downloading");
    const [{ n }] = (await this.o.db.select({ n: count() }).from(vms).where(or(eq(vms.imageId, id), eq(vms.isoImageId, id)))) as [{ n: number }];
    if (Number(n) > 0) throw new ConflictError(`image ${id} is used by ${Number(n)} virtual machine(s)`, "in_use");
    await this.o.db.delete(images).where(eq(images.id, id));
    if (image.sourceUrl && image.path) await rm(join(this.o.storeDir, image.path), { force: true });
  }
}
