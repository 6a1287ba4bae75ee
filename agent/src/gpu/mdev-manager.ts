// vGPU (mdev) lifecycle on the host through sysfs: create, remove, list. The sysfs root is a
// setting so tests run on a fake tree. Newer drivers' vendor-VFIO vGPUs (a type written to a VF's
// nvidia/current_vgpu_type, the VF passed as a PCI device) are discovered (vgpu-sysfs.reader.ts)
// but not yet created by the agent.
import { randomUUID } from "node:crypto";
import { readdir, readFile, readlink, realpath, stat, writeFile } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import {
  AlreadyExistsError, HypervisorError, InsufficientCapacityError, InvalidArgumentError, NotFoundError,
} from "#shared/errors.js";
import { normalizePciAddress } from "./pci-address.js";

export interface MdevDevice {
  uuid: string;
  /** The mdev parent: the GPU, or the SR-IOV VF the vGPU lives on. */
  parentPci: string;
  typeId: string;
  /** e.g. "GRID A100D-4C"; "" when unreadable. */
  typeName: string;
}

export interface MdevManagerOptions {
  /** Default "/sys". */
  sysfsRoot?: string;
  newUuid?: () => string;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const TYPE_ID = /^[A-Za-z0-9_.-]+$/;

function errno(e: unknown): string | undefined {
  return (e as NodeJS.ErrnoException | undefined)?.code;
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

export class MdevManager {
  readonly sysfsRoot: string;
  private readonly newUuid: () => string;

  constructor(opts: MdevManagerOptions = {}) {
    this.sysfsRoot = opts.sysfsRoot ?? "/sys";
    this.newUuid = opts.newUuid ?? randomUUID;
  }

  private typeDir(parentPci: string, typeId: string): string {
    return join(this.sysfsRoot, "class/mdev_bus", parentPci, "mdev_supported_types", typeId);
  }

  private deviceDir(uuid: string): string {
    return join(this.sysfsRoot, "bus/mdev/devices", uuid);
  }

  /** Instances of a type still creatable on a parent (reads available_instances). */
  async availableInstances(parentPci: string, typeId: string): Promise<number> {
    const pci = this.checkPci(parentPci);
    this.checkTypeId(typeId);
    return this.readAvailable(pci, typeId);
  }

  /**
   * Creates an mdev of `typeId` on `parentPci`, an mdev parent or a GPU whose SR-IOV VFs are the
   * parents (the agent knows GPUs by their physical function). Checks available_instances first.
   * @throws InvalidArgumentError, NotFoundError (parent or type), InsufficientCapacityError (0 left),
   *   AlreadyExistsError (uuid taken), HypervisorError (the kernel refused the write)
   */
  async create(parentPci: string, typeId: string, uuid: string = this.newUuid()): Promise<MdevDevice> {
    const gpuOrParent = this.checkPci(parentPci);
    this.checkTypeId(typeId);
    if (!UUID.test(uuid)) throw new InvalidArgumentError("uuid", `not a UUID: ${uuid}`);
    const id = uuid.toLowerCase();
    // Before any capacity check: a retried start finds its mdev there even when it took the last slot.
    if (await exists(this.deviceDir(id))) throw new AlreadyExistsError("mdev", id);
    const pci = await this.resolveParent(gpuOrParent, typeId);
    const available = await this.readAvailable(pci, typeId);
    const typeName = await this.readTypeName(this.typeDir(pci, typeId));
    if (available <= 0) {
      throw new InsufficientCapacityError(
        `no instance of vGPU type ${typeId}${typeName ? ` (${typeName})` : ""} left on ${pci}: available_instances is 0`,
        [],
        false,
      );
    }
    if (await exists(this.deviceDir(id))) throw new AlreadyExistsError("mdev", id);
    try {
      await writeFile(join(this.typeDir(pci, typeId), "create"), id);
    } catch (e) {
      if (errno(e) === "EEXIST") throw new AlreadyExistsError("mdev", id);
      throw new HypervisorError(`creating mdev ${id} of type ${typeId} on ${pci} failed: ${(e as Error).message}`);
    }
    return { uuid: id, parentPci: pci, typeId, typeName };
  }

  /**
   * Removes an mdev. Idempotent: returns false when it did not exist.
   * @throws HypervisorError when the kernel refuses (e.g. EBUSY: a running VM still uses it)
   */
  async remove(uuid: string): Promise<boolean> {
    if (!UUID.test(uuid)) throw new InvalidArgumentError("uuid", `not a UUID: ${uuid}`);
    const dir = this.deviceDir(uuid.toLowerCase());
    if (!(await exists(dir))) return false;
    try {
      await writeFile(join(dir, "remove"), "1");
    } catch (e) {
      const busy = errno(e) === "EBUSY" ? " (still in use by a VM?)" : "";
      throw new HypervisorError(`removing mdev ${uuid} failed${busy}: ${(e as Error).message}`);
    }
    return true;
  }

  /** Every mdev on the host, sorted by parent then UUID. */
  async list(): Promise<MdevDevice[]> {
    let uuids: string[];
    try {
      uuids = await readdir(join(this.sysfsRoot, "bus/mdev/devices"));
    } catch (e) {
      if (errno(e) === "ENOENT") return []; // no mdev module loaded: no mdevs
      throw new HypervisorError(`listing mdevs failed: ${(e as Error).message}`);
    }
    const out: MdevDevice[] = [];
    for (const uuid of uuids) {
      const dir = this.deviceDir(uuid);
      const typeLink = await readlink(join(dir, "mdev_type")).catch(() => undefined);
      // The device directory sits under its parent's: .../<parent pci>/<uuid>.
      const real = await realpath(dir).catch(() => undefined);
      const parent = real ? basename(dirname(real)) : "";
      out.push({
        uuid,
        parentPci: normalizePciAddress(parent) ?? parent,
        typeId: typeLink ? basename(typeLink) : "",
        typeName: await this.readTypeName(join(dir, "mdev_type")),
      });
    }
    return out.sort((a, b) => a.parentPci.localeCompare(b.parentPci) || a.uuid.localeCompare(b.uuid));
  }

  /** `pci` itself when it is an mdev parent; else, for an SR-IOV GPU (Ampere and later) whose
   *  VFs are the parents, the first VF with an instance of `typeId` left; else `pci` (the reads
   *  that follow then say what is missing). */
  private async resolveParent(pci: string, typeId: string): Promise<string> {
    const bus = join(this.sysfsRoot, "class/mdev_bus");
    if (await exists(join(bus, pci))) return pci;
    const vfs: string[] = [];
    for (const parent of (await readdir(bus).catch(() => [] as string[])).sort()) {
      const physfn = await readlink(join(bus, parent, "physfn")).catch(() => undefined);
      if (physfn && normalizePciAddress(basename(physfn)) === pci) vfs.push(normalizePciAddress(parent) ?? parent);
    }
    if (vfs.length === 0) return pci;
    let offered = false;
    for (const vf of vfs) {
      const available = await this.readAvailable(vf, typeId).catch((e: unknown) => {
        if (e instanceof NotFoundError) return undefined; // this VF does not offer the type
        throw e;
      });
      if (available !== undefined) offered = true;
      if (available !== undefined && available > 0) return vf;
    }
    if (!offered) throw new NotFoundError("vGPU type", `${typeId} on ${pci}`, `no virtual function of ${pci} offers vGPU type ${typeId}`);
    throw new InsufficientCapacityError(`no instance of vGPU type ${typeId} left on any virtual function of ${pci}`, [], false);
  }

  private checkPci(parentPci: string): string {
    const pci = normalizePciAddress(parentPci);
    if (!pci) throw new InvalidArgumentError("parentPci", `not a PCI address: ${parentPci}`);
    return pci;
  }

  private checkTypeId(typeId: string): void {
    if (!TYPE_ID.test(typeId)) throw new InvalidArgumentError("typeId", `not an mdev type id: ${typeId}`);
  }

  private async readAvailable(pci: string, typeId: string): Promise<number> {
    if (!(await exists(join(this.sysfsRoot, "class/mdev_bus", pci)))) {
      throw new NotFoundError("mdev parent", pci, `${pci} is not an mdev parent (no vGPU manager on it?)`);
    }
    let text: string;
    try {
      text = await readFile(join(this.typeDir(pci, typeId), "available_instances"), "utf8");
    } catch (e) {
      if (errno(e) === "ENOENT") throw new NotFoundError("vGPU type", `${typeId} on ${pci}`, `${pci} offers no vGPU type ${typeId}`);
      throw new HypervisorError(`reading available_instances of ${typeId} on ${pci} failed: ${(e as Error).message}`);
    }
    const n = Number(text.trim());
    if (!Number.isInteger(n)) throw new HypervisorError(`available_instances of ${typeId} on ${pci} is not a number: ${text.trim()}`);
    return n;
  }

  private async readTypeName(typeDir: string): Promise<string> {
    return (await readFile(join(typeDir, "name"), "utf8").catch(() => "")).trim();
  }
}
