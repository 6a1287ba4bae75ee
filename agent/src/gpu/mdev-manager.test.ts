import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import {
  AlreadyExistsError, HypervisorError, InsufficientCapacityError, InvalidArgumentError, NotFoundError,
} from "#shared/errors.js";
import { FakeSysfs } from "./fake-sysfs.js";
import { MdevManager } from "./mdev-manager.js";

const U1 = "0b3a4c2e-1111-4a4a-9c9c-000000000001";
const U2 = "0b3a4c2e-1111-4a4a-9c9c-000000000002";

describe("MdevManager", () => {
  let fs: FakeSysfs;
  let mdev: MdevManager;
  beforeEach(async () => {
    fs = await FakeSysfs.create();
    await fs.addPciDevice("0000:41:00.0");
    await fs.addMdevParent("0000:41:00.4", [
      { typeId: "nvidia-692", name: "GRID A100D-4C", availableInstances: 1 },
      { typeId: "nvidia-698", name: "GRID A100D-80C", availableInstances: 0 },
    ], { physfn: "0000:41:00.0" });
    mdev = new MdevManager({ sysfsRoot: fs.root, newUuid: () => U1 });
  });
  afterEach(async () => { await fs.dispose(); });

  const createFile = (type: string) => join(fs.devicePath("0000:41:00.4"), "mdev_supported_types", type, "create");

  it("creates an mdev by writing its UUID to the type's create file", async () => {
    const d = await mdev.create("00000000:41:00.4", "nvidia-692");
    expect(d).toEqual({ uuid: U1, parentPci: "0000:41:00.4", typeId: "nvidia-692", typeName: "GRID A100D-4C" });
    expect(await readFile(createFile("nvidia-692"), "utf8")).toBe(U1);
  });

  it("uses a given UUID (lower-cased)", async () => {
    const d = await mdev.create("0000:41:00.4", "nvidia-692", U2.toUpperCase());
    expect(d.uuid).toBe(U2);
    expect(await readFile(createFile("nvidia-692"), "utf8")).toBe(U2);
  });

  it("refuses with a clear error when available_instances is 0, writing nothing", async () => {
    const err = await mdev.create("0000:41:00.4", "nvidia-698").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InsufficientCapacityError);
    expect((err as Error).message).toBe("no instance of vGPU type nvidia-698 (GRID A100D-80C) left on 0000:41:00.4: available_instances is 0");
    expect(await readFile(createFile("nvidia-698"), "utf8")).toBe("");
  });

  it("says which of parent or type does not exist", async () => {
    await expect(mdev.create("0000:99:00.0", "nvidia-692")).rejects.toThrow(NotFoundError);
    await expect(mdev.create("0000:99:00.0", "nvidia-692")).rejects.toThrow(/not an mdev parent/);
    await expect(mdev.create("0000:41:00.4", "nvidia-999")).rejects.toThrow(/offers no vGPU type nvidia-999/);
  });

  it("rejects bad arguments before touching sysfs (no path tricks)", async () => {
    await expect(mdev.create("../../etc", "nvidia-692")).rejects.toThrow(InvalidArgumentError);
    await expect(mdev.create("0000:41:00.4", "../nvidia-692")).rejects.toThrow(InvalidArgumentError);
    await expect(mdev.create("0000:41:00.4", "nvidia-692", "not-a-uuid")).rejects.toThrow(InvalidArgumentError);
    await expect(mdev.remove("../x")).rejects.toThrow(InvalidArgumentError);
  });

  it("refuses a UUID that is already an mdev", async () => {
    await fs.addMdevDevice("0000:41:00.4", "nvidia-692", U1);
    await expect(mdev.create("0000:41:00.4", "nvidia-692", U1)).rejects.toThrow(AlreadyExistsError);
  });

  it("turns a refused write into a HypervisorError", async () => {
    await rm(createFile("nvidia-692"));
    await mkdir(createFile("nvidia-692")); // writing to it now fails (EISDIR)
    await expect(mdev.create("0000:41:00.4", "nvidia-692")).rejects.toThrow(HypervisorError);
  });

  it("reads available instances", async () => {
    expect(await mdev.availableInstances("0000:41:00.4", "nvidia-692")).toBe(1);
    expect(await mdev.availableInstances("0000:41:00.4", "nvidia-698")).toBe(0);
  });

  it("lists existing mdevs with parent and type, and none on a host without mdev", async () => {
    expect(await mdev.list()).toEqual([]);
    await fs.addMdevParent("0000:41:00.5", [{ typeId: "nvidia-692", name: "GRID A100D-4C", availableInstances: 0 }], { physfn: "0000:41:00.0" });
    await fs.addMdevDevice("0000:41:00.5", "nvidia-692", U2);
    await fs.addMdevDevice("0000:41:00.4", "nvidia-692", U1);
    expect(await mdev.list()).toEqual([
      { uuid: U1, parentPci: "0000:41:00.4", typeId: "nvidia-692", typeName: "GRID A100D-4C" },
      { uuid: U2, parentPci: "0000:41:00.5", typeId: "nvidia-692", typeName: "GRID A100D-4C" },
    ]);
  });

  it("removes an mdev by writing 1 to its remove file; removing a missing one is a no-op", async () => {
    await fs.addMdevDevice("0000:41:00.4", "nvidia-692", U1);
    expect(await mdev.remove(U1)).toBe(true);
    expect(await readFile(join(fs.devicePath("0000:41:00.4"), U1, "remove"), "utf8")).toBe("1");
    expect(await mdev.remove(U2)).toBe(false);
  });

  describe("given the GPU of an SR-IOV host, whose VFs are the mdev parents", () => {
    beforeEach(async () => {
      await fs.addMdevParent("0000:41:00.5", [{ typeId: "nvidia-692", name: "GRID A100D-4C", availableInstances: 1 }], { physfn: "0000:41:00.0" });
    });

    it("creates the mdev on the first VF with an instance of the type left", async () => {
      await writeFile(join(fs.devicePath("0000:41:00.4"), "mdev_supported_types/nvidia-692/available_instances"), "0\n");
      const d = await mdev.create("00000000:41:00.0", "nvidia-692", U2);
      expect(d).toEqual({ uuid: U2, parentPci: "0000:41:00.5", typeId: "nvidia-692", typeName: "GRID A100D-4C" });
      expect(await readFile(join(fs.devicePath("0000:41:00.5"), "mdev_supported_types/nvidia-692/create"), "utf8")).toBe(U2);
      expect(await readFile(createFile("nvidia-692"), "utf8")).toBe("");
    });

    it("says when no VF has an instance left, or none offers the type", async () => {
      await expect(mdev.create("0000:41:00.0", "nvidia-698")).rejects.toThrow(InsufficientCapacityError);
      await expect(mdev.create("0000:41:00.0", "nvidia-698")).rejects.toThrow("no instance of vGPU type nvidia-698 left on any virtual function of 0000:41:00.0");
      await expect(mdev.create("0000:41:00.0", "nvidia-999")).rejects.toThrow(NotFoundError);
    });

    it("answers AlreadyExists for a retried start whose mdev took the last instance", async () => {
      await fs.addMdevDevice("0000:41:00.5", "nvidia-692", U1);
      await writeFile(join(fs.devicePath("0000:41:00.4"), "mdev_supported_types/nvidia-692/available_instances"), "0\n");
      await writeFile(join(fs.devicePath("0000:41:00.5"), "mdev_supported_types/nvidia-692/available_instances"), "0\n");
      await expect(mdev.create("0000:41:00.0", "nvidia-692", U1)).rejects.toThrow(AlreadyExistsError);
    });
  });
});
