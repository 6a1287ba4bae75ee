import { describe, expect, it } from "vitest";
import { InventoryParseError } from "./inventory-parse-error.js";
import { parseProcCpuinfo } from "./proc-cpuinfo.parser.js";
import { readInventoryTestdata } from "./testdata.js";

describe("parseProcCpuinfo", () => {
  it("reads a real 2-CPU AMD EPYC VM without hardware virtualization", () => {
    const c = parseProcCpuinfo(readInventoryTestdata("proc-cpuinfo.dev-vm.txt"));
    expect(c.modelName).toBe("AMD EPYC");
    expect(c.vendorId).toBe("AuthenticAMD");
    expect(c.logicalCpus).toBe(2);
    expect(c.sockets).toBe(1);
    expect(c.cpuMhz).toBe(2445);
    expect(c.flags).toContain("avx2");
    expect(c.hardwareVirtualization).toBe(false);
  });

  it("sees vmx, counts sockets, and handles CPUs with no model name (aarch64)", () => {
    const intel = [0, 1, 2, 3].map((i) => `processor\t: ${i}\nmodel name\t: Intel(R) Xeon(R) Gold 6338 CPU @ 2.00GHz\nphysical id\t: ${i % 2}\nflags\t\t: fpu vmx sse\n`).join("\n");
    expect(parseProcCpuinfo(intel)).toMatchObject({ modelName: "Intel(R) Xeon(R) Gold 6338 CPU @ 2.00GHz", logicalCpus: 4, sockets: 2, hardwareVirtualization: true });
    const arm = "processor\t: 0\nBogoMIPS\t: 50.00\nFeatures\t: fp asimd\nCPU implementer\t: 0x41\n\nprocessor\t: 1\nBogoMIPS\t: 50.00\n";
    expect(parseProcCpuinfo(arm)).toMatchObject({ modelName: undefined, logicalCpus: 2, sockets: undefined, flags: ["fp", "asimd"] });
  });

  it("rejects text without processor entries", () => {
    expect(() => parseProcCpuinfo("")).toThrow(InventoryParseError);
  });
});
