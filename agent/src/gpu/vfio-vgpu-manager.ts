// vGPU lifecycle for NVIDIA's vendor VFIO framework (vGPU 17+ on recent kernels, no mdev): a vGPU
// is an SR-IOV virtual function given a type by writing its numeric id to
// <sysfsRoot>/bus/pci/devices/<vf>/nvidia/current_vgpu_type, and freed by writing 0. The VF
// itself is then passed to the VM as a PCI host device.
import { readdir, readFile, readlink, writeFile } from "node:fs/promises";
import { basename, join } from "node:path";
import { ConflictError, HypervisorError, InsufficientCapacityError, InvalidArgumentError, NotFoundError } from "#shared/errors.js";
import { normalizePciAddress } from "./pci-address.js";
import { parseCreatableVgpuTypes } from "./vgpu-sysfs.parser.js";

export interface VfioVgpu {
  vfPci: string;
  /** The physical GPU the VF belongs to. */
  gpuPci: string;
  /** "nvidia-<id>", as in VgpuType.typeId. */
  typeId: string;
}

function numericTypeId(typeId: string): number {
  const m = /^(?:nvidia-)?(\d+)$/.exec(typeId);
  if (!m || Number(m[1]) === 0) throw new InvalidArgumentError("typeId", `not a vGPU type id: ${typeId}`);
  return Number(m[1]);
}

export class VfioVgpuManager {
  readonly sysfsRoot: string;

  constructor(opts: { sysfsRoot?: string } = {}) {
    this.sysfsRoot = opts.sysfsRoot ?? "/sys";
  }

  private nvidiaDir(vfPci: string): string {
    return join(this.sysfsRoot, "bus/pci/devices", vfPci, "nvidia");
  }

  private checkPci(pci: string, field: string): string {
    const p = normalizePciAddress(pci);
    if (!p) throw new InvalidArgumentError(field, `not a PCI address: ${pci}`);
    return p;
  }

  private async currentType(vfPci: string): Promise<number> {
    let text: string;
    try {
      text = await readFile(join(this.nvidiaDir(vfPci), "current_vgpu_type"), "utf8");
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") {
        throw new NotFoundError("vGPU virtual function", vfPci, `${vfPci} is not a vGPU-capable virtual function`);
      }
      throw new HypervisorError(`reading current_vgpu_type of ${vfPci} failed: ${(e as Error).message}`);
    }
    return Number(text.trim()) || 0;
  }

  private async gpuOf(vfPci: string): Promise<string> {
    const link = await readlink(join(this.sysfsRoot, "bus/pci/devices", vfPci, "physfn")).catch(() => undefined);
    return (link && normalizePciAddress(basename(link))) ?? vfPci;
  }

  /**
   * Gives `typeId` to the VF. Checks the VF is free and the type creatable there first.
   * @throws NotFoundError (not a vGPU VF), ConflictError (VF already holds a vGPU),
   *   InsufficientCapacityError (type not creatable now), HypervisorError (write refused)
   */
  async create(vfPci: string, typeId: string): Promise<VfioVgpu> {
    const vf = this.checkPci(vfPci, "vfPci");
    const id = numericTypeId(typeId);
    const current = await this.currentType(vf);
    if (current !== 0) throw new ConflictError(`${vf} already holds a vGPU of type nvidia-${current}`, "in_use");
    const creatable = parseCreatableVgpuTypes(
      await readFile(join(this.nvidiaDir(vf), "creatable_vgpu_types"), "utf8").catch(() => ""),
    );
    if (!creatable.some((t) => t.vgpuTypeId === id)) {
      const offered = creatable.map((t) => t.typeId).join(", ") || "none";
      throw new InsufficientCapacityError(`vGPU type nvidia-${id} cannot be created on ${vf} now (creatable: ${offered})`, [], false);
    }
    try {
      await writeFile(join(this.nvidiaDir(vf), "current_vgpu_type"), String(id));
    } catch (e) {
      throw new HypervisorError(`creating a vGPU of type nvidia-${id} on ${vf} failed: ${(e as Error).message}`);
    }
    return { vfPci: vf, gpuPci: await this.gpuOf(vf), typeId: `nvidia-${id}` };
  }

  /** Frees the VF. Idempotent: returns false when it held no vGPU. */
  async remove(vfPci: string): Promise<boolean> {
    const vf = this.checkPci(vfPci, "vfPci");
    if ((await this.currentType(vf)) === 0) return false;
    try {
      await writeFile(join(this.nvidiaDir(vf), "current_vgpu_type"), "0");
    } catch (e) {
      throw new HypervisorError(`removing the vGPU on ${vf} failed (still in use by a VM?): ${(e as Error).message}`);
    }
    return true;
  }

  /** A free VF of `gpuPci` on which `typeId` can be created now; undefined when none. */
  async findFreeVf(gpuPci: string, typeId: string): Promise<string | undefined> {
    const gpu = this.checkPci(gpuPci, "gpuPci");
    const id = numericTypeId(typeId);
    for (const vf of await this.vfsWithVgpuSupport()) {
      if ((await this.gpuOf(vf)) !== gpu || (await this.currentType(vf)) !== 0) continue;
      const text = await readFile(join(this.nvidiaDir(vf), "creatable_vgpu_types"), "utf8").catch(() => "");
      if (parseCreatableVgpuTypes(text).some((t) => t.vgpuTypeId === id)) return vf;
    }
    return undefined;
  }

  /** Every VF that holds a vGPU. */
  async list(): Promise<VfioVgpu[]> {
    const out: VfioVgpu[] = [];
    for (const vf of await this.vfsWithVgpuSupport()) {
      const current = await this.currentType(vf);
      if (current !== 0) out.push({ vfPci: vf, gpuPci: await this.gpuOf(vf), typeId: `nvidia-${current}` });
    }
    return out;
  }

  private async vfsWithVgpuSupport(): Promise<string[]> {
    const devices = join(this.sysfsRoot, "bus/pci/devices");
    const names = await readdir(devices).catch(() => [] as string[]);
    const out: string[] = [];
    for (const name of names.sort()) {
      const ok = await readFile(join(devices, name, "nvidia/current_vgpu_type"), "utf8").then(() => true, () => false);
      if (ok) out.push(normalizePciAddress(name) ?? name);
    }
    return out;
  }
}
