// The full VM spec an agent needs to start a domain, from the manager's rows.
import type { VmSpec } from "#shared/protocol.js";
import type { allocations, gpuAllocations, gpus, images, vms } from "../db/schema.js";

export function buildVmSpec(
  vm: typeof vms.$inferSelect,
  image: typeof images.$inferSelect,
  alloc: typeof allocations.$inferSelect | undefined,
  gpuRows: { a: typeof gpuAllocations.$inferSelect; g: typeof gpus.$inferSelect }[],
): VmSpec {
  return {
    vmUuid: vm.uuid,
    name: vm.name,
    vcpus: vm.vcpus,
    maxVcpus: vm.vcpus,
    memoryMib: vm.memoryMib,
    maxMemoryMib: vm.memoryMib,
    topology: { sockets: 1, cores: vm.vcpus, threads: 1 },
    disks: image.path
      ? [{ id: "root", device: "disk", sourcePath: "", format: "qcow2", sizeGib: 0, bus: "virtio", owned: true, backingPath: image.path }]
      : [],
    nics: [],
    gpus: gpuRows.map(({ a, g }) => ({
      pciAddress: g.pciAddress, mode: a.mode, vgpuType: a.vgpuType, mdevUuid: a.mdevUuid, shareMilli: a.shareMilli,
    })),
    pinnedCpus: alloc?.pinnedCpus ?? [],
    numaNode: alloc?.numaNode ?? -1,
    imageName: image.name,
    cloudInit: vm.userData
      ? { userData: vm.userData, metaData: "", networkConfig: "", sshAuthorizedKeys: [], hostname: vm.name }
      : undefined,
    labels: Object.fromEntries(vm.labels.map((l) => [l, ""])),
    directBoot: undefined,
    osType: image.osType,
  };
}
