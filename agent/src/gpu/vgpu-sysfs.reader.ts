// Reads the vGPU types a host can still create, from sysfs (its root is a setting so tests run on
// a fake tree):
//  - mdev framework: <root>/class/mdev_bus/<parent>/mdev_supported_types/<type>/{name,
//    available_instances,description,device_api}; the parent is the GPU, or one of its SR-IOV
//    virtual functions (then <parent>/physfn points at the GPU);
//  - vendor VFIO framework (vGPU 17+): <root>/bus/pci/devices/<vf>/nvidia/, one vGPU per VF:
//    creatable_vgpu_types (what the VF could take now), current_vgpu_type (the type it holds, 0 when
//    free) and, for MIG-backed vGPUs, gpu_instance_id (the GPU instance the vGPU lives in).
import { readdir, readFile, readlink } from "node:fs/promises";
import { basename, join } from "node:path";
import { normalizePciAddress } from "./pci-address.js";
import { parseCreatableVgpuTypes, parseMdevDescription } from "./vgpu-sysfs.parser.js";

export interface SysfsVgpuType {
  /** Where the type is created: the GPU or one of its VFs. */
  parentPci: string;
  /** The physical GPU (the PF behind a VF; the parent itself otherwise). */
  gpuPci: string;
  typeId: string;
  name: string;
  availableInstances: number;
  /** From the description (mdev) when it says; undefined otherwise. */
  maxInstances: number | undefined;
  framebufferMib: number | undefined;
  description: string;
  deviceApi: string;
  framework: "mdev" | "vfio";
  /** Vendor VFIO, a VF holding a MIG-backed vGPU of this type: its GPU instance. */
  gpuInstanceId?: number;
}

/** A VF of the vendor VFIO framework and the vGPU it holds. */
export interface SysfsVfioVf {
  vfPci: string;
  gpuPci: string;
  /** "nvidia-<id>" of the vGPU it holds; undefined when free. */
  currentTypeId: string | undefined;
  /** The GPU instance of a MIG-backed vGPU; undefined otherwise. */
  gpuInstanceId: number | undefined;
}

export interface SysfsVgpuScan {
  types: SysfsVgpuType[];
  /** Vendor VFIO framework only: every VF with an nvidia/ directory. */
  vfioVfs: SysfsVfioVf[];
  warnings: string[];
}

export interface VgpuSysfsReaderOptions {
  /** Default "/sys". */
  sysfsRoot?: string;
}

function isMissing(e: unknown): boolean {
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  return code === "ENOENT" || code === "ENOTDIR";
}

async function readText(path: string): Promise<string | undefined> {
  try {
    return (await readFile(path, "utf8")).trim();
  } catch (e) {
    if (isMissing(e)) return undefined;
    throw e;
  }
}

async function listDir(path: string): Promise<string[]> {
  try {
    return (await readdir(path)).sort();
  } catch (e) {
    if (isMissing(e)) return [];
    throw e;
  }
}

export class VgpuSysfsReader {
  readonly sysfsRoot: string;

  constructor(opts: VgpuSysfsReaderOptions = {}) {
    this.sysfsRoot = opts.sysfsRoot ?? "/sys";
  }

  /** Every vGPU type of every parent, both frameworks. Never throws: problems become warnings. */
  async scan(): Promise<SysfsVgpuScan> {
    const warnings: string[] = [];
    const types: SysfsVgpuType[] = [];
    const vfioVfs: SysfsVfioVf[] = [];
    try {
      types.push(...(await this.readMdevTypes(warnings)));
    } catch (e) {
      warnings.push(`reading ${join(this.sysfsRoot, "class/mdev_bus")} failed: ${(e as Error).message}`);
    }
    try {
      await this.readVfioVfs(types, vfioVfs, warnings);
    } catch (e) {
      warnings.push(`reading ${join(this.sysfsRoot, "bus/pci/devices")} failed: ${(e as Error).message}`);
    }
    return { types, vfioVfs, warnings };
  }

  /** The host NUMA node of a PCI device; -1 when unknown. */
  async numaNode(pciAddress: string): Promise<number> {
    try {
      const v = await readText(join(this.sysfsRoot, "bus/pci/devices", pciAddress, "numa_node"));
      const n = v === undefined ? NaN : Number(v);
      return Number.isInteger(n) && n >= 0 ? n : -1;
    } catch {
      return -1;
    }
  }

  private async physicalFunction(devicePath: string, fallback: string): Promise<string> {
    try {
      const target = await readlink(join(devicePath, "physfn"));
      return normalizePciAddress(basename(target)) ?? fallback;
    } catch {
      return fallback;
    }
  }

  private async readMdevTypes(warnings: string[]): Promise<SysfsVgpuType[]> {
    const bus = join(this.sysfsRoot, "class/mdev_bus");
    const out: SysfsVgpuType[] = [];
    for (const parent of await listDir(bus)) {
      const parentPath = join(bus, parent);
      const parentPci = normalizePciAddress(parent) ?? parent;
      const gpuPci = await this.physicalFunction(parentPath, parentPci);
      const typesDir = join(parentPath, "mdev_supported_types");
      for (const typeId of await listDir(typesDir)) {
        const dir = join(typesDir, typeId);
        try {
          const t = await this.readMdevType(dir, parentPci, gpuPci, typeId);
          if (t) out.push(t);
          else warnings.push(`${join(dir, "available_instances")}: not a number, type skipped`);
        } catch (e) {
          // One broken type must not hide the others.
          warnings.push(`reading ${dir} failed: ${(e as Error).message}`);
        }
      }
    }
    return out;
  }

  private async readMdevType(dir: string, parentPci: string, gpuPci: string, typeId: string): Promise<SysfsVgpuType | undefined> {
    const available = Number(await readText(join(dir, "available_instances")));
    if (!Number.isInteger(available)) return undefined;
    const description = (await readText(join(dir, "description"))) ?? "";
    const parsed = parseMdevDescription(description);
    return {
      parentPci,
      gpuPci,
      typeId,
      name: (await readText(join(dir, "name"))) ?? "",
      availableInstances: available,
      maxInstances: parsed.maxInstances,
      framebufferMib: parsed.framebufferMib,
      description,
      deviceApi: (await readText(join(dir, "device_api"))) ?? "",
      framework: "mdev",
    };
  }

  /** A small non-negative integer file of a VF's nvidia/ directory; undefined when absent or
   *  not a number (free VFs may print -1 or a placeholder). */
  private async readVfNumber(path: string, warnings: string[]): Promise<number | undefined | "unreadable"> {
    let text: string | undefined;
    try {
      text = await readText(path);
    } catch (e) {
      warnings.push(`${path}: ${(e as Error).message}`);
      return "unreadable";
    }
    if (text === undefined) return undefined;
    return /^\d+$/.test(text) ? Number(text) : undefined;
  }

  private async readVfioVfs(types: SysfsVgpuType[], vfs: SysfsVfioVf[], warnings: string[]): Promise<void> {
    const devices = join(this.sysfsRoot, "bus/pci/devices");
    for (const vf of await listDir(devices)) {
      const nvidiaDir = join(devices, vf, "nvidia");
      const creatablePath = join(nvidiaDir, "creatable_vgpu_types");
      const creatable = await readText(creatablePath).catch((e: Error) => {
        warnings.push(`${creatablePath}: ${e.message}`);
        return undefined;
      });
      const currentPath = join(nvidiaDir, "current_vgpu_type");
      const current = await this.readVfNumber(currentPath, warnings);
      if (creatable === undefined && current === undefined) continue; // not a vGPU VF
      const parentPci = normalizePciAddress(vf) ?? vf;
      const gpuPci = await this.physicalFunction(join(devices, vf), parentPci);
      const gi = await this.readVfNumber(join(nvidiaDir, "gpu_instance_id"), warnings);
      const gpuInstanceId = typeof gi === "number" ? gi : undefined;
      const offered = parseCreatableVgpuTypes(creatable ?? "");
      const base = { parentPci, gpuPci, maxInstances: undefined, framebufferMib: undefined, description: "", deviceApi: "vfio-pci", framework: "vfio" as const };
      if (current === "unreadable") {
        // Whether it is free is unknown: offering it could hand out a VF a VM holds.
        warnings.push(`${parentPci}: current_vgpu_type unreadable; its vGPU types are not counted as free`);
        vfs.push({ vfPci: parentPci, gpuPci, currentTypeId: undefined, gpuInstanceId });
        continue;
      }
      if (current !== undefined && current !== 0) {
        // Assigned: its slot is taken whatever creatable_vgpu_types still lists.
        const typeId = `nvidia-${current}`;
        const name = offered.find((t) => t.vgpuTypeId === current)?.name ?? "";
        types.push({ ...base, typeId, name, availableInstances: 0, ...(gpuInstanceId !== undefined ? { gpuInstanceId } : {}) });
        vfs.push({ vfPci: parentPci, gpuPci, currentTypeId: typeId, gpuInstanceId });
        continue;
      }
      vfs.push({ vfPci: parentPci, gpuPci, currentTypeId: undefined, gpuInstanceId: undefined });
      // A free VF holds one vGPU: a type it lists as creatable has one instance left there.
      for (const t of offered) types.push({ ...base, typeId: t.typeId, name: t.name, availableInstances: 1 });
    }
  }
}
