// Real qemu-img on temp qcow2 files: an internal snapshot made without libvirt (`qemu-img snapshot
// -c`, what libvirt asks QEMU for on a shut-off domain) grows the file, and what grows is measured.
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { allocatedBytes, parseQemuImgActualSize, snapshotCreatedBytes } from "./snapshot-disk-use.js";
import { toolMissing } from "./tool-availability.js";

describe("snapshotCreatedBytes", () => {
  it("sums each file's growth, a shrunk or unchanged one counting 0", () => {
    const before = new Map([["/a", 1000], ["/b", 5000]]);
    expect(snapshotCreatedBytes(before, new Map([["/a", 1500], ["/b", 4000]]), 0)).toBe(500);
    expect(snapshotCreatedBytes(before, new Map([["/a", 1000], ["/b", 5000]]), 0)).toBe(0);
  });

  it("never counts less than the vmstate the snapshot holds (a file reusing freed clusters grows less)", () => {
    expect(snapshotCreatedBytes(new Map([["/a", 1000]]), new Map([["/a", 1100]]), 4096)).toBe(4096);
    expect(snapshotCreatedBytes(new Map([["/a", 1000]]), new Map([["/a", 9000]]), 4096)).toBe(8000);
  });

  it("reads actual-size from qemu-img info's JSON", () => {
    expect(parseQemuImgActualSize(JSON.stringify({ "virtual-size": 1 << 30, "actual-size": 200704, format: "qcow2" }))).toBe(200704);
    expect(parseQemuImgActualSize("{}")).toBe(0);
  });
});

const skip = toolMissing("qemu-img") && !process.env.CI;

describe.skipIf(skip)(`allocatedBytes on real qcow2 files${skip ? " (skipped: qemu-img not installed)" : ""}`, () => {
  const dir = mkdtempSync(join(tmpdir(), "orbit-snapdisk-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const info = async (p: string) => execFileSync("qemu-img", ["info", "--output=json", "-U", p], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] });

  it("measures an internal snapshot's growth of the disk file, and a missing file as 0", async () => {
    const disk = join(dir, "root.qcow2");
    execFileSync("qemu-img", ["create", "-q", "-f", "qcow2", disk, "1G"]);
    // Some data, so the snapshot has an L1 table with entries and refcounts to bump.
    if (!toolMissing("qemu-io")) execFileSync("qemu-io", ["-c", "write -P 0x5a 0 4M", disk], { stdio: "ignore" });
    const before = await allocatedBytes(info, [disk, join(dir, "missing.qcow2")]);
    expect(before.get(disk)).toBeGreaterThan(0);
    expect(before.get(join(dir, "missing.qcow2"))).toBe(0);
    execFileSync("qemu-img", ["snapshot", "-c", "orbit-s1", disk]);
    const after = await allocatedBytes(info, [disk]);
    const grown = snapshotCreatedBytes(before, after, 0);
    // The snapshot table and the L1 copy are new clusters (64 KiB each by default); the data is shared, not copied.
    expect(grown).toBeGreaterThan(0);
    expect(grown).toBeLessThan(4 * 1024 * 1024);
  });
});
