import { describe, expect, it } from "vitest";
import { GpuParseError } from "./gpu-parse-error.js";
import { parseMdevSupportedTypesListing, parseMdevTypeTable } from "./mdev-listing.parser.js";
import { readGpuFixture } from "./test-fixtures.js";

describe("parseMdevTypeTable", () => {
  it("reads the A100D SR-IOV VF listing: seven C-series types, one instance each", () => {
    const types = parseMdevTypeTable(readGpuFixture("mdev-types.a100d-80gb-sriov-vf0-available.kata-doc.txt"));
    expect(types.map((t) => [t.typeId, t.name])).toEqual([
      ["nvidia-692", "GRID A100D-4C"], ["nvidia-693", "GRID A100D-8C"], ["nvidia-694", "GRID A100D-10C"],
      ["nvidia-695", "GRID A100D-16C"], ["nvidia-696", "GRID A100D-20C"], ["nvidia-697", "GRID A100D-40C"],
      ["nvidia-698", "GRID A100D-80C"],
    ]);
    for (const t of types) {
      expect(t.parentPci).toBe("0000:41:00.4");
      expect(t.availableInstances).toBe(1);
    }
  });

  it("rejects rows without a header and unreadable rows", () => {
    expect(() => parseMdevTypeTable("| 0000:41:00.4 | 1 | x | nvidia-1 |")).toThrow(GpuParseError);
    expect(() => parseMdevTypeTable("| BDF | INSTANCES | NAME | DIR |\n| 0000:41:00.4 | many | x | nvidia-1 |"))
      .toThrow(/unreadable row/);
  });
});

describe("parseMdevSupportedTypesListing", () => {
  it("reads the nova doc listing: four M60 parents with types nvidia-35..45", () => {
    const parents = parseMdevSupportedTypesListing(
      readGpuFixture("mdev-supported-types-ls.tesla-m60-4pgpu.nova-doc.txt"),
    );
    expect(parents.map((p) => p.parentPci)).toEqual(["0000:84:00.0", "0000:85:00.0", "0000:86:00.0", "0000:87:00.0"]);
    const expected = Array.from({ length: 11 }, (_, i) => `nvidia-${35 + i}`);
    for (const p of parents) expect(p.typeIds).toEqual(expected);
  });

  it("rejects type names before any parent", () => {
    expect(() => parseMdevSupportedTypesListing("nvidia-35 nvidia-36")).toThrow(GpuParseError);
  });
});
