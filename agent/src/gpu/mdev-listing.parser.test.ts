import { describe, expect, it } from "vitest";
import { GpuParseError } from "./gpu-parse-error.js";
import { parseMdevSupportedTypesListing, parseMdevTypeTable } from "./mdev-listing.parser.js";
import { readGpuSample } from "./test-fixtures.js";

describe("parseMdevTypeTable", () => {
  it("reads the A40 SR-IOV VF table: ten Q-series types, one instance each", () => {
    const types = parseMdevTypeTable(readGpuSample("mdev-types.a40-vf.table.txt"));
    expect(types.map((t) => [t.typeId, t.name])).toEqual([
      ["nvidia-557", "NVIDIA A40-1Q"], ["nvidia-558", "NVIDIA A40-2Q"], ["nvidia-559", "NVIDIA A40-3Q"], ["nvidia-560", "NVIDIA A40-4Q"],
      ["nvidia-561", "NVIDIA A40-6Q"], ["nvidia-562", "NVIDIA A40-8Q"], ["nvidia-563", "NVIDIA A40-12Q"], ["nvidia-564", "NVIDIA A40-16Q"],
      ["nvidia-565", "NVIDIA A40-24Q"], ["nvidia-566", "NVIDIA A40-48Q"],
    ]);
    for (const t of types) {
      expect(t.parentPci).toBe("0000:3b:00.4");
      expect(t.availableInstances).toBe(1);
    }
  });

  it("reads a table printed once per type (header repeated, blank lines between)", () => {
    const table = "| BDF | INSTANCES | NAME | DIR |\n+---+\n| 0000:3b:00.5 | 0 | NVIDIA A40-4Q | nvidia-560 |\n\n" +
      "| BDF | INSTANCES | NAME | DIR |\n+---+\n| 0000:3b:00.5 | 1 | NVIDIA A40-8Q | nvidia-562 |\n";
    expect(parseMdevTypeTable(table).map((t) => [t.typeId, t.availableInstances])).toEqual([["nvidia-560", 0], ["nvidia-562", 1]]);
  });

  it("rejects rows without a header and unreadable rows", () => {
    expect(() => parseMdevTypeTable("| 0000:41:00.4 | 1 | x | nvidia-1 |")).toThrow(GpuParseError);
    expect(() => parseMdevTypeTable("| BDF | INSTANCES | NAME | DIR |\n| 0000:41:00.4 | many | x | nvidia-1 |"))
      .toThrow(/unreadable row/);
  });
});

describe("parseMdevSupportedTypesListing", () => {
  it("reads the `ls` of a 3x T4 host: three mdev parents with types nvidia-222..238", () => {
    const parents = parseMdevSupportedTypesListing(readGpuSample("mdev-supported-types-ls.t4-x3.txt"));
    expect(parents.map((p) => p.parentPci)).toEqual(["0000:3b:00.0", "0000:5e:00.0", "0000:d8:00.0"]);
    const expected = Array.from({ length: 17 }, (_, i) => `nvidia-${222 + i}`);
    for (const p of parents) expect(p.typeIds).toEqual(expected);
  });

  it("rejects type names before any parent", () => {
    expect(() => parseMdevSupportedTypesListing("nvidia-35 nvidia-36")).toThrow(GpuParseError);
  });
});
