import { describe, expect, it } from "vitest";
import { vmNic } from "../network/vm-nic.js";
import { SettingsRegistry } from "../settings/settings-registry.js";
import { blankRootDiskSpec, buildVmSpec, cdromSpec, instanceNameFlag, mdevUuidFor, rootDiskSpec } from "./vm-spec.js";

const vm = {
  id: 1, uuid: "11111111-2222-4333-8444-555555555555", name: "v", vcpus: 4, memoryMib: 8192, labels: ["a"], userData: "", sshAuthorizedKeys: [],
} as never;
const image = { name: "Debian 12", path: "", osType: "linux" } as never;

describe("buildVmSpec", () => {
  it("names the domain by vm.instancename.flag: with the VM's name (default, today's form) or without it", () => {
    const named = { ...(vm as object), id: 42, name: "my web/1" } as never;
    const withName = buildVmSpec(named, image, undefined, [], undefined, undefined, [], undefined, undefined, true);
    expect(withName.domainName).toBe("orbit-11111111-my-web-1");
    expect(buildVmSpec(named, image, undefined, []).domainName).toBe(withName.domainName);
    const internal = buildVmSpec(named, image, undefined, [], undefined, undefined, [], undefined, undefined, false);
    expect(internal.domainName).toBe("orbit-42-11111111");
    expect(internal.name).toBe("my web/1");
    const settings = new SettingsRegistry();
    expect(instanceNameFlag(settings)).toBe(true);
    settings.setLocal("vm.instancename.flag", false);
    expect(instanceNameFlag(settings)).toBe(false);
    expect(instanceNameFlag({})).toBe(true);
  });

  it("maps vGPU type names to mdev type ids and derives a stable mdev uuid", () => {
    const g = { id: 7, pciAddress: "0000:41:00.4", vgpuTypes: [{ typeId: "nvidia-692", name: "GRID A100D-4C" }] } as never;
    const a = { mode: "vgpu", vgpuType: "GRID A100D-4C", mdevUuid: "", shareMilli: 0 } as never;
    const spec = buildVmSpec(vm, image, undefined, [{ a, g }]);
    expect(spec.gpus[0]).toMatchObject({ pciAddress: "0000:41:00.4", mode: "vgpu", vgpuType: "nvidia-692" });
    expect(spec.gpus[0]!.mdevUuid).toBe(mdevUuidFor("11111111-2222-4333-8444-555555555555", 7));
    expect(spec.gpus[0]!.mdevUuid).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(mdevUuidFor("11111111-2222-4333-8444-555555555555", 8)).not.toBe(spec.gpus[0]!.mdevUuid);
  });

  it("leaves passthrough GPUs without vGPU fields and unbound VMs at NUMA node -1", () => {
    const g = { id: 1, pciAddress: "0000:18:00.0", vgpuTypes: [] } as never;
    const a = { mode: "passthrough", vgpuType: "", mdevUuid: "", shareMilli: 1000 } as never;
    const spec = buildVmSpec(vm, image, undefined, [{ a, g }]);
    expect(spec.gpus[0]).toMatchObject({ mode: "passthrough", vgpuType: "", mdevUuid: "" });
    expect(spec.numaNode).toBe(-1);
    expect(spec.disks).toEqual([]);
  });

  it("puts an attached ISO after a disk image's root disk, as a cdrom of the image's relative path", () => {
    const disk = { name: "Debian 12", path: "debian.qcow2", format: "qcow2", osType: "linux" } as never;
    const iso = { image: { path: "image-9.iso" }, rootDiskGib: 40 };
    const spec = buildVmSpec(vm, disk, undefined, [], undefined, undefined, [], undefined, iso);
    expect(spec.disks).toEqual([rootDiskSpec({ path: "debian.qcow2" }), cdromSpec({ path: "image-9.iso" })]);
    expect(spec.disks[1]).toMatchObject({ device: "cdrom", sourcePath: "image-9.iso", owned: false, backingPath: "" });
    expect(buildVmSpec(vm, disk, undefined, [], undefined, undefined, [], undefined, { image: undefined, rootDiskGib: 40 }).disks)
      .toEqual([rootDiskSpec({ path: "debian.qcow2" })]);
  });

  it("gives a VM created from an ISO a blank root of the flavor's size, the cdrom first while attached", () => {
    const isoImage = { name: "netinst", path: "image-9.iso", format: "iso", osType: "linux" } as never;
    const attached = buildVmSpec(vm, isoImage, undefined, [], undefined, undefined, [], undefined, { image: { path: "image-9.iso" }, rootDiskGib: 40 });
    expect(attached.disks).toEqual([cdromSpec({ path: "image-9.iso" }), blankRootDiskSpec(40)]);
    expect(attached.disks[1]).toMatchObject({ device: "disk", owned: true, sizeGib: 40, backingPath: "", sourcePath: "" });
    const detached = buildVmSpec(vm, isoImage, undefined, [], undefined, undefined, [], undefined, { image: undefined, rootDiskGib: 40 });
    expect(detached.disks).toEqual([blankRootDiskSpec(40)]);
  });

  it("seeds the key pair's public key with or without user data", () => {
    const withKey = buildVmSpec({ ...(vm as object), sshAuthorizedKeys: ["ssh-ed25519 AAAA k"] } as never, image, undefined, []);
    expect(withKey.cloudInit).toMatchObject({ userData: "", sshAuthorizedKeys: ["ssh-ed25519 AAAA k"], hostname: "v" });
    expect(buildVmSpec(vm, image, undefined, []).cloudInit).toBeUndefined();
  });

  it("gives a VM with an address one NIC and a seed whose network-config sets that address", () => {
    const nic = vmNic("11111111-2222-4333-8444-555555555555", { id: 3, cidr: "10.128.2.0/24", gateway: "10.128.2.1", nameservers: [] }, "10.128.2.7", null);
    const spec = buildVmSpec(vm, image, undefined, [], { nic, nameservers: ["9.9.9.9"] });
    expect(spec.nics).toEqual([nic]);
    // No user data nor key: the seed exists for the network-config alone.
    expect(spec.cloudInit).toMatchObject({ userData: "", sshAuthorizedKeys: [], hostname: "v" });
    expect(JSON.parse(spec.cloudInit!.networkConfig).ethernets.eth0).toMatchObject({
      match: { macaddress: nic.mac }, addresses: ["10.128.2.7/24"], routes: [{ to: "default", via: "10.128.2.1" }], nameservers: { addresses: ["9.9.9.9"] },
    });
    expect(buildVmSpec(vm, image, undefined, []).nics).toEqual([]);
  });

  it("gives the seed the VM's instance-id (empty: the agent uses the uuid) and the root disk an overlay on the image", () => {
    const reset = buildVmSpec({ ...(vm as object), sshAuthorizedKeys: ["ssh-ed25519 AAAA k"], seedInstanceId: "new-id" } as never, image, undefined, []);
    expect(reset.cloudInit?.instanceId).toBe("new-id");
    const withDisk = buildVmSpec(vm, { ...(image as object), path: "/images/debian.qcow2" } as never, undefined, []);
    expect(withDisk.disks).toEqual([rootDiskSpec({ path: "/images/debian.qcow2" })]);
    expect(withDisk.disks[0]).toMatchObject({ id: "root", owned: true, backingPath: "/images/debian.qcow2", copyFromVmUuid: "" });
    expect(rootDiskSpec({ path: "/i.qcow2" }, "src-uuid").copyFromVmUuid).toBe("src-uuid");
  });
});
