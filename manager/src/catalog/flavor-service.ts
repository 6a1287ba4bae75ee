// Admin management of flavors: what a VM gets (vCPUs, memory, GPUs: N passthrough of a model, a
// vGPU type, or a time-sliced share) and where it may run (host tags, CPU type).
import { and, count, eq, isNull } from "drizzle-orm";
import { AlreadyExistsError, ConflictError, InvalidArgumentError, NotFoundError } from "#shared/errors.js";
import type { Db } from "../db/database.js";
import { flavors, vms } from "../db/schema.js";
import type { Flavor } from "./catalog-service.js";
import { labelsOf, setLabels, type FlavorLabel } from "./flavor-labels.js";

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
  region_name?: string | undefined;
  /** Hyperstack's labels, replaced as a list (labels kept keep their id). */
  labels?: string[] | undefined;
  /** Hyperstack's feature flags, replaced as a whole. */
  features?: Record<string, boolean> | undefined;
}

/** A flavor with its labels, as admins see it. */
export type LabelledFlavor = Flavor & { labels: FlavorLabel[] };

/** A change: any field but the name; VMs already made keep what they were made with. */
export type ChangeFlavorInput = Partial<Omit<CreateFlavorInput, "name">>;

type FlavorColumns = Omit<typeof flavors.$inferInsert, "id" | "name" | "createdAt" | "retiredAt">;

/** The columns a create or change sets (labels are rows of their own), checked: one kind of GPU, and a model with gpu_count. */
function columns(input: ChangeFlavorInput, base?: Flavor): FlavorColumns {
  const c = {
    vcpus: input.cpu ?? base?.vcpus ?? 1,
    memoryMib: input.ram !== undefined ? Math.round(input.ram * 1024) : base?.memoryMib ?? 1024,
    diskGib: input.disk ?? base?.diskGib ?? 0,
    gpuModel: input.gpu ?? base?.gpuModel ?? "",
    gpuCount: input.gpu_count ?? base?.gpuCount ?? 0,
    vgpuType: input.vgpu_type ?? base?.vgpuType ?? "",
    gpuShareMilli: input.gpu_share_milli ?? base?.gpuShareMilli ?? 0,
    hostTags: input.host_tags ?? base?.hostTags ?? [],
    cpuType: input.cpu_type ?? base?.cpuType ?? "",
    regionName: input.region_name ?? base?.regionName ?? "default",
    features: input.features ?? base?.features ?? {},
  };
  const gpuKinds = [c.gpuCount > 0, !!c.vgpuType, c.gpuShareMilli > 0].filter(Boolean).length;
  if (gpuKinds > 1) {
    throw new InvalidArgumentError("gpu_count", "a flavor has either passthrough GPUs (gpu_count), a vgpu_type or a gpu_share_milli, not several");
  }
  if (c.gpuCount > 0 && !c.gpuModel) throw new InvalidArgumentError("gpu", "gpu (the GPU model) is required with gpu_count");
  return c;
}

export class FlavorService {
  constructor(private readonly db: Db) {}

  async create(input: CreateFlavorInput): Promise<LabelledFlavor> {
    const c = columns(input);
    const row = await this.db.transaction(async (tx) => {
      const [created] = await tx.insert(flavors).values({ name: input.name, ...c }).onConflictDoNothing().returning();
      if (!created) throw new AlreadyExistsError("flavor", `"${input.name}"`);
      if (input.labels) await setLabels(tx, created.id, input.labels);
      return created;
    });
    return this.labelled(row);
  }

  /** Changes what new VMs of this flavor get (VMs have their own copy of vCPUs and memory). */
  async change(id: number, input: ChangeFlavorInput): Promise<LabelledFlavor> {
    const c = columns(input, await this.get(id));
    const row = await this.db.transaction(async (tx) => {
      const [changed] = await tx.update(flavors).set(c).where(eq(flavors.id, id)).returning();
      if (!changed) throw new NotFoundError("flavor", id);
      if (input.labels) await setLabels(tx, id, input.labels);
      return changed;
    });
    return this.labelled(row);
  }

  /** Hidden from lists and refused for new VMs; the VMs that have it keep it. Retiring twice is a no-op. */
  async retire(id: number): Promise<LabelledFlavor> {
    const current = await this.get(id);
    if (current.retiredAt) return current;
    const [row] = await this.db.update(flavors).set({ retiredAt: new Date() }).where(eq(flavors.id, id)).returning();
    if (!row) throw new NotFoundError("flavor", id);
    return { ...row, labels: current.labels };
  }

  async list(): Promise<LabelledFlavor[]> {
    const rows = await this.db.select().from(flavors).orderBy(flavors.id);
    const labels = await labelsOf(this.db, rows.map((r) => r.id));
    return rows.map((r) => ({ ...r, labels: labels.get(r.id) ?? [] }));
  }

  async get(id: number): Promise<LabelledFlavor> {
    const [row] = await this.db.select().from(flavors).where(eq(flavors.id, id));
    if (!row) throw new NotFoundError("flavor", id);
    return this.labelled(row);
  }

  private async labelled(row: Flavor): Promise<LabelledFlavor> {
    return { ...row, labels: (await labelsOf(this.db, [row.id])).get(row.id) ?? [] };
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
