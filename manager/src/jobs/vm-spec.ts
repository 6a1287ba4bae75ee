// The full VM spec an agent needs to start a domain, from the manager's rows.
import { createHash } from "node:crypto";
import { domainNameWithVmName, internalDomainName } from "#shared/domain-name.js";
import type { DiskSpec, FirewallSpec, VmSpec } from "#shared/protocol.js";
import type { allocations, gpuAllocations, gpus, images, vms } from "../db/schema.js";
import type { VmNetworking } from "../network/vm-network.js";
import { networkConfigFor } from "../network/vm-nic.js";
import type { SettingsRegistry } from "../settings/settings-registry.js";

export function buildVmSpec(
  vm: typeof vms.$inferSelect,
  image: typeof images.$inferSelect,
  alloc: typeof allocations.$inferSelect | undefined,
  gpuRows: { a: typeof gpuAllocations.$inferSelect; g: typeof gpus.$inferSelect }[],
  networking?: VmNetworking,
  /** The VM's firewall (security-rules/firewall-spec.ts); undefined: none is sent. */
  firewall?: FirewallSpec,
  /** Attached volumes (storage/volume-disks.ts), after the root disk. */
  volumeDisks: DiskSpec[] = [],
  /** The bootable volume the VM boots from (storage/boot-volumes.ts), in place of the owned root overlay. */
  bootDisk?: DiskSpec,
  /** The ISO in the VM's cdrom (vms.iso_image_id), and the size of a blank root disk (a VM created from an ISO). */
  iso?: { image: Pick<typeof images.$inferSelect, "path"> | undefined; rootDiskGib: number },
  /** Setting vm.instancename.flag at this start: whether the domain's name includes the VM's name. */
  instanceNameFlag = true,
): VmSpec {
  // The guest's address comes in the seed's network-config, so a VM with a NIC always has a seed.
  const networkConfig = networking ? networkConfigFor(networking.nic, networking.nameservers) : "";
  return {
    vmUuid: vm.uuid,
    name: vm.name,
    vcpus: vm.vcpus,
    maxVcpus: vm.vcpus,
    memoryMib: vm.memoryMib,
    maxMemoryMib: vm.memoryMib,
    topology: { sockets: 1, cores: vm.vcpus, threads: 1 },
    disks: disksOf(image, volumeDisks, bootDisk, iso),
    nics: networking ? [networking.nic] : [],
    gpus: gpuRows.map(({ a, g }) => ({
      pciAddress: g.pciAddress,
      mode: a.mode,
      // The allocator speaks vGPU type names ("GRID A100D-4C"); the host needs the mdev type id.
      vgpuType: a.mode === "vgpu" ? (g.vgpuTypes.find((t) => t.name === a.vgpuType || t.typeId === a.vgpuType)?.typeId ?? a.vgpuType) : "",
      mdevUuid: a.mode === "vgpu" ? a.mdevUuid || mdevUuidFor(vm.uuid, g.id) : "",
      shareMilli: a.shareMilli,
    })),
    pinnedCpus: alloc?.pinnedCpus ?? [],
    numaNode: alloc?.numaNode ?? -1,
    imageName: image.name,
    cloudInit: vm.userData || vm.sshAuthorizedKeys.length > 0 || networkConfig
      ? { userData: vm.userData, metaData: "", networkConfig, sshAuthorizedKeys: [...vm.sshAuthorizedKeys], hostname: vm.name, instanceId: vm.seedInstanceId }
      : undefined,
    labels: Object.fromEntries(vm.labels.map((l) => [l, ""])),
    directBoot: undefined,
    osType: image.osType,
    firewall,
    domainName: domainNameOf(vm, instanceNameFlag),
  };
}

export const INSTANCE_NAME_FLAG_SETTING = "vm.instancename.flag";

/** The setting at a start; without a registry (other jobs' unit tests) the default, true. */
export function instanceNameFlag(settings: Partial<Pick<SettingsRegistry, "get">>): boolean {
  return settings.get?.<boolean>(INSTANCE_NAME_FLAG_SETTING) ?? true;
}

/**
 * The hypervisor's name for the VM's domain (CloudStack's vm.instancename.flag): with the VM's
 * name (the form every domain had before the setting, so existing domains keep theirs), or an
 * internal one without it. A rename of the VM follows at its next start (the agent renames a
 * defined domain whose name differs).
 */
export function domainNameOf(vm: Pick<typeof vms.$inferSelect, "id" | "uuid" | "name">, withVmName: boolean): string {
  return withVmName ? domainNameWithVmName({ vmUuid: vm.uuid, name: vm.name }) : internalDomainName({ id: vm.id, vmUuid: vm.uuid });
}

/**
 * The domain's disks in boot order (the agent numbers boot order by position). A VM created from an
 * ISO has a blank root disk and boots the cdrom first while it is in; any other VM boots its root
 * disk first and sees an attached ISO as a cdrom after its disks.
 */
function disksOf(
  image: Pick<typeof images.$inferSelect, "path" | "format">, volumeDisks: DiskSpec[], bootDisk: DiskSpec | undefined,
  iso: { image: Pick<typeof images.$inferSelect, "path"> | undefined; rootDiskGib: number } | undefined,
): DiskSpec[] {
  if (image.format === "iso") {
    const root = blankRootDiskSpec(iso?.rootDiskGib ?? 0);
    return iso?.image?.path ? [cdromSpec(iso.image), root, ...volumeDisks] : [root, ...volumeDisks];
  }
  const root = bootDisk ? [bootDisk] : image.path ? [rootDiskSpec(image)] : [];
  return [...root, ...volumeDisks, ...(iso?.image?.path ? [cdromSpec(iso.image)] : [])];
}

/** An ISO as the VM's cdrom: the image's path relative to the host's images dir (fetched from the manager when missing). */
export function cdromSpec(image: Pick<typeof images.$inferSelect, "path">): DiskSpec {
  return { id: "iso", device: "cdrom", sourcePath: image.path, format: "raw", sizeGib: 0, bus: "", owned: false, backingPath: "", copyFromVmUuid: "" };
}

/** The empty root disk of a VM installed from an ISO: created by the agent at the flavor's size. */
export function blankRootDiskSpec(sizeGib: number): DiskSpec {
  return { id: "root", device: "disk", sourcePath: "", format: "qcow2", sizeGib: Math.max(sizeGib, 1), bus: "virtio", owned: true, backingPath: "", copyFromVmUuid: "" };
}

/** A VM's root disk: its own qcow2 overlay on the image (made by the agent on first start, or by PrepareDisk). */
export function rootDiskSpec(image: Pick<typeof images.$inferSelect, "path">, copyFromVmUuid = ""): DiskSpec {
  return { id: "root", device: "disk", sourcePath: "", format: "qcow2", sizeGib: 0, bus: "virtio", owned: true, backingPath: image.path, copyFromVmUuid };
}

/** The mdev of a VM's vGPU on one GPU: derived, so every retry of a start names the same device. */
export function mdevUuidFor(vmUuid: string, gpuId: number): string {
  const h = createHash("sha256").update(`${vmUuid}/${gpuId}`).digest("hex");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-${((parseInt(h[16]!, 16) & 3) | 8).toString(16)}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}
