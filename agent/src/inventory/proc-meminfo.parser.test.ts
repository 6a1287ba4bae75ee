import { describe, expect, it } from "vitest";
import { InventoryParseError } from "./inventory-parse-error.js";
import { parseProcMeminfo } from "./proc-meminfo.parser.js";
import { readInventoryTestdata } from "./testdata.js";

describe("parseProcMeminfo", () => {
  it("reads MemTotal and MemAvailable of a real machine", () => {
    const m = parseProcMeminfo(readInventoryTestdata("proc-meminfo.dev-vm.txt"));
    expect(m.fields["MemTotal"]).toBe(24684096);
    expect(m.memTotalMib).toBe(24105);
    expect(m.fields["MemAvailable"]).toBe(23930148);
    expect(m.memAvailableMib).toBe(23369);
    expect(m.memFreeMib).toBe(22893);
    expect(m.hugepageSizeKib).toBe(2048);
    expect(m.hugePagesTotal).toBe(0);
  });

  it("estimates available memory on kernels without MemAvailable", () => {
    const m = parseProcMeminfo("MemTotal: 2048000 kB\nMemFree: 1024000 kB\nBuffers: 10240 kB\nCached: 20480 kB\nHugePages_Total: 4\n");
    expect(m.memAvailableMib).toBe(1030);
    expect(m.hugePagesTotal).toBe(4);
  });

  it("rejects text without MemTotal", () => {
    expect(() => parseProcMeminfo("cat: /proc/meminfo: No such file or directory")).toThrow(InventoryParseError);
  });
});
