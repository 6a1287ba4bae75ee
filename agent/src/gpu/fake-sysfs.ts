// Test helper: builds a small sysfs tree in a temp folder with the same shape as the kernel's
// (device directories under devices/, symlinks from bus/ and class/), for the sysfs readers.
import { mkdir, mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, relative, dirname } from "node:path";

export interface FakeMdevType {
  typeId: string;
  name: string;
  availableInstances: number;
  description?: string;
  deviceApi?: string;
}

export class FakeSysfs {
  private constructor(readonly root: string) {}

  static async create(): Promise<FakeSysfs> {
    return new FakeSysfs(await mkdtemp(join(tmpdir(), "orbit-fake-sysfs-")));
  }

  async dispose(): Promise<void> {
    await rm(this.root, { recursive: true, force: true });
  }

  devicePath(pci: string): string {
    return join(this.root, "devices/pci0000:00", pci);
  }

  private async link(at: string, target: string): Promise<void> {
    await mkdir(dirname(at), { recursive: true });
    await symlink(relative(dirname(at), target), at);
  }

  /** A PCI device, optionally a VF of `physfn`, with its NUMA node. */
  async addPciDevice(pci: string, opts: { numaNode?: number; physfn?: string } = {}): Promise<string> {
    const dev = this.devicePath(pci);
    await mkdir(dev, { recursive: true });
    await writeFile(join(dev, "numa_node"), `${opts.numaNode ?? -1}\n`);
    if (opts.physfn) await this.link(join(dev, "physfn"), this.devicePath(opts.physfn));
    await this.link(join(this.root, "bus/pci/devices", pci), dev);
    return dev;
  }

  /** Makes `pci` an mdev parent offering `types`. */
  async addMdevParent(pci: string, types: FakeMdevType[], opts: { physfn?: string } = {}): Promise<void> {
    const dev = await this.addPciDevice(pci, opts);
    await this.link(join(this.root, "class/mdev_bus", pci), dev);
    for (const t of types) {
      const dir = join(dev, "mdev_supported_types", t.typeId);
      await mkdir(join(dir, "devices"), { recursive: true });
      await writeFile(join(dir, "name"), `${t.name}\n`);
      await writeFile(join(dir, "available_instances"), `${t.availableInstances}\n`);
      await writeFile(join(dir, "description"), `${t.description ?? ""}\n`);
      await writeFile(join(dir, "device_api"), `${t.deviceApi ?? "vfio-pci"}\n`);
      await writeFile(join(dir, "create"), "");
    }
  }

  /** An existing mdev device of `typeId` on `pci` (which must be an mdev parent already). */
  async addMdevDevice(pci: string, typeId: string, uuid: string): Promise<void> {
    const dev = join(this.devicePath(pci), uuid);
    await mkdir(dev, { recursive: true });
    await writeFile(join(dev, "remove"), "");
    await this.link(join(dev, "mdev_type"), join(this.devicePath(pci), "mdev_supported_types", typeId));
    await this.link(join(this.root, "bus/mdev/devices", uuid), dev);
  }

  /** A VF of the vendor VFIO framework listing `creatable` as "id : name" lines, holding a vGPU of
   *  `currentType` (0: free), MIG-backed in GPU instance `gpuInstanceId` when given. */
  async addVfioVf(
    vf: string, physfn: string, creatable: { id: number; name: string }[], currentType = 0,
    opts: { gpuInstanceId?: number } = {},
  ): Promise<void> {
    const dev = await this.addPciDevice(vf, { physfn });
    await mkdir(join(dev, "nvidia"), { recursive: true });
    const lines = creatable.map((c) => `${c.id} : ${c.name}\n`).join("");
    await writeFile(join(dev, "nvidia/creatable_vgpu_types"), creatable.length ? `ID    : vGPU Name\n${lines}` : "");
    await writeFile(join(dev, "nvidia/current_vgpu_type"), `${currentType}\n`);
    if (opts.gpuInstanceId !== undefined) await writeFile(join(dev, "nvidia/gpu_instance_id"), `${opts.gpuInstanceId}\n`);
  }
}
