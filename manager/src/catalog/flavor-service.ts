// Admin management of flavors: what a VM gets (vCPUs, memory, GPUs: N passthrough of a model, a
// vGPU type, or a time-sliced share) and where it may run (host tags, CPU type).
import { and, count, eq, isNull } from "drizzle-orm";
import { AlreadyExistsError, ConflictError, InvalidArgumentError, NotFoundError } from "#shared/errors.js";
import type { Db } from "../db/database.js";
import { flavors, vms } from "../db/schema.js";
import type { Flavor } from "./catalog-service.js";

export interface CreateFlavorInput {
  name: string;
  cpu: number;
  ram: number;
  disk?: number | undefined;
  gpu?: string | undefined;
  gpu_count?: number | undefined;
  vgpu_type?: string | undefined;
  gpu_share_milli?: number | undefined;
  host_tags?: string[] | undefined;
  cpu_type?: string | undefined;
}

export class FlavorService {
  constructor(private readonly db: Db) {}

  async create(input: CreateFlavorInput): Promise<Flavor> {
    const gpuKinds = [(input.gpu_count ?? 0) > 0, !!input.vgpu_type, (input.gpu_share_milli ?? 0) > 0].filter(Boolean).length;
    if (gpuKinds > 1) {
      throw new InvalidArgumentError("gpu_count", "a flavor has either passthrough GPUs (gpu_count), a vgpu_type or a gpu_share_milli, not several");
    }
    if ((input.gpu_count ?? 0) > 0 && !input.gpu) throw new InvalidArgumentError("gpu", "gpu (the GPU model) is required with gpu_count");
    const [row] = await this.db.insert(flavors).values({
      name: input.name,
      vcpus: input.cpu,
      memoryMib: Math.round(input.ram * 1024),
      diskGib: input.disk ?? 0,
      gpuModel: input.gpu ?? "",
      gpuCount: input.gpu_count ?? 0,
      vgpuType: input.vgpu_type ?? "",
      gpuShareMilli: input.gpu_share_milli ?? 0,
      hostTags: input.host_tags ?? [],
      cpuType: input.cpu_type ?? "",
    }).onConflictDoNothing().returning();
    if (!row) throw new AlreadyExistsError("flavor", `"${input.name}"`);
    return row;
  }

  async list(): Promise<Flavor[]> {
    return this.db.select().from(flavors).orderBy(flavors.id);
  }

  async get(id: number): Promise<Flavor> {
    const [row] = await this.db.select().from(flavors).where(eq(flavors.id, id));
    if (!row) throw new NotFoundError("flavor", id);
    return row;
  }

  /** Refused while any VM row references it (its rows keep the flavor for their views). */
  async delete(id: number): Promise<void> {
    await this.get(id);
    const [{ n }] = (await this.db.select({ n: count() }).from(vms).where(and(eq(vms.flavorId, id), isNull(vms.deletedAt)))) as [{ n: number }];
    const [{ all }] = (await this.db.select({ all: count() }).from(vms).where(eq(vms.flavorId, id))) as [{ all: number }];
    if (Number(all) > 0) {
      throw new ConflictError(`flavor ${id} is used by ${Number(n)} live and ${Number(all) - Number(n)} deleted virtual machine(s)`, "in_use");
    }
    await this.db.delete(flavors).where(eq(flavors.id, id));
  }
}
