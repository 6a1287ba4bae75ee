import { describe, expect, it } from "vitest";
import { InventoryParseError } from "./inventory-parse-error.js";
import { readInventoryTestdata } from "./testdata.js";
import { parseVirshNodeinfo } from "./virsh-nodeinfo.parser.js";

describe("parseVirshNodeinfo", () => {
  it("reads libvirt's test driver (test:///default)", () => {
    expect(parseVirshNodeinfo(readInventoryTestdata("virsh-nodeinfo.test-driver.txt"))).toEqual({
      cpuModel: "i686", cpus: 16, cpuMhz: 1400, sockets: 2, coresPerSocket: 2, threadsPerCore: 2, numaCells: 2,
      memoryKib: 3145728, memoryMib: 3072,
    });
  });

  it("reads a real QEMU host (sandboxed libvirtd 9.0 on this kind of machine)", () => {
    expect(parseVirshNodeinfo(readInventoryTestdata("virsh-nodeinfo.qemu-tcg-sandbox.txt"))).toEqual({
      cpuModel: "x86_64", cpus: 2, cpuMhz: 2445, sockets: 1, coresPerSocket: 2, threadsPerCore: 1, numaCells: 1,
      memoryKib: 5990616, memoryMib: 5850,
    });
  });

  it("rejects output with missing or unreadable fields", () => {
    expect(() => parseVirshNodeinfo("CPU model: x86_64\nCPU(s): 4\n")).toThrow(/missing fields: cpuMhz/);
    expect(() => parseVirshNodeinfo("CPU(s): many\n")).toThrow(InventoryParseError);
    expect(() => parseVirshNodeinfo("error: failed to connect to the hypervisor")).toThrow(InventoryParseError);
  });
});
