import { describe, expect, it } from "vitest";
import { InventoryParseError } from "./inventory-parse-error.js";
import { readInventoryTestdata } from "./testdata.js";
import { parseVirshCapabilities } from "./virsh-capabilities.parser.js";

describe("parseVirshCapabilities", () => {
  it("reads a real QEMU host (sandboxed libvirtd 9.0): UUID, CPU, topology, one NUMA cell, kvm and qemu", () => {
    const c = parseVirshCapabilities(readInventoryTestdata("virsh-capabilities.qemu-tcg-sandbox.xml"));
    expect(c.hostUuid).toBe("00000000-0000-4000-8000-000000000007");
    expect(c.cpuArch).toBe("x86_64");
    expect(c.cpuModel).toBe("kvm64");
    expect(c.cpuVendor).toBe("AMD");
    expect(c.topology).toEqual({ sockets: 1, dies: 1, cores: 2, threads: 1 });
    expect(c.numaCells).toEqual([{ id: 0, cpus: [0, 1], memoryMib: 5850 }]);
    expect(c.cpus).toBe(2);
    expect(c.iommu).toBe(false);
    expect(c.guests).toEqual([
      { osType: "hvm", arch: "i686", domainTypes: ["qemu", "kvm"] },
      { osType: "hvm", arch: "x86_64", domainTypes: ["qemu", "kvm"] },
    ]);
  });

  it("reads libvirt's test driver: two NUMA cells of 8 CPUs, no UUID and no topology", () => {
    const c = parseVirshCapabilities(readInventoryTestdata("virsh-capabilities.test-driver.xml"));
    expect(c.hostUuid).toBe("");
    expect(c.cpuArch).toBe("i686");
    expect(c.cpuModel).toBe("");
    expect(c.topology).toBeUndefined();
    expect(c.numaCells).toEqual([
      { id: 0, cpus: [0, 1, 2, 3, 4, 5, 6, 7], memoryMib: 2048 },
      { id: 1, cpus: [8, 9, 10, 11, 12, 13, 14, 15], memoryMib: 4096 },
    ]);
    expect(c.cpus).toBe(16);
    expect(c.guests.map((g) => [g.osType, g.arch, g.domainTypes])).toEqual([["hvm", "i686", ["test"]], ["xen", "i686", ["test"]]]);
  });

  it("reads memory in other units and a single CPU per cell", () => {
    const c = parseVirshCapabilities(`<capabilities><host><cpu><arch>aarch64</arch></cpu><topology><cells num='1'>
      <cell id='0'><memory unit='GiB'>2</memory><cpus num='1'><cpu id='3'/></cpus></cell></cells></topology></host></capabilities>`);
    expect(c.numaCells).toEqual([{ id: 0, cpus: [3], memoryMib: 2048 }]);
    expect(c.iommu).toBeUndefined();
  });

  it("rejects garbage and other documents", () => {
    expect(() => parseVirshCapabilities("error: failed to connect to the hypervisor")).toThrow(InventoryParseError);
    expect(() => parseVirshCapabilities("<domain/>")).toThrow(/no <capabilities><host>/);
  });
});
