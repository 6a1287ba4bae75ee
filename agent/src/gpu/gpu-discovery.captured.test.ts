// The extra tier: GPU discovery on real outputs captured on other machines (the team's shared
// folder, <shared>/fixtures/gpu, described in its SOURCES.md; never copied into the repository).
// Same parsers and merge as the default tests, which run on Orbit's own samples in ./testdata.
// Skipped with one line without the shared folder; under CI=true it must be there.
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Gpu } from "#shared/protocol.js";
import { FakeSysfs } from "./fake-sysfs.js";
import { catFile, fakeNvidiaSmi } from "./fake-nvidia-smi.js";
import { mergeGpuFacts, vgpuTypesOfGpu } from "./gpu-facts.merge.js";
import { groupGpus } from "./gpu-groups.js";
import { NvidiaGpuInventory } from "./nvidia-gpu-inventory.js";
import { parseNvidiaSmiList } from "./nvidia-smi-list.parser.js";
import { parseNvidiaSmiText } from "./nvidia-smi-text.parser.js";
import { parseNvidiaSmiTopo } from "./nvidia-smi-topo.parser.js";
import { parseNvidiaSmiVgpuTypes } from "./nvidia-smi-vgpu.parser.js";
import { parseNvidiaSmiXml } from "./nvidia-smi-xml.parser.js";
import { capturedGpuFixtures } from "./test-fixtures.js";
import type { SysfsVgpuType } from "./vgpu-sysfs.reader.js";

const captured = capturedGpuFixtures();
const read = (name: string): string => captured!.read(name);
const path = (name: string): string => captured!.path(name);
const cat = (name: string): string => catFile(path(name));
const V100_XML = "nvidia-smi-q-x.v100s-pcie-32gb-x8-passthrough.driver460.v11.xml";
const allOthers = (self: number, n: number, links: number) =>
  Array.from({ length: n }, (_, i) => i).filter((i) => i !== self).map((index) => ({ index, links }));
const sysfsType = (p: Partial<SysfsVgpuType> & Pick<SysfsVgpuType, "parentPci" | "gpuPci" | "typeId">): SysfsVgpuType => ({
  name: "", availableInstances: 1, maxInstances: undefined, framebufferMib: undefined, description: "", deviceApi: "vfio-pci", framework: "mdev", ...p,
});
const gpusOf = (fixture: string): Gpu[] => mergeGpuFacts({ report: parseNvidiaSmiXml(read(fixture)) }).gpus;

describe.skipIf(!captured)("GPU discovery on captured real outputs", () => {
  describe("parseNvidiaSmiXml", () => {
    it("A100-SXM4-80GB, DTD v12, bare metal with MIG enabled and 4 MIG devices", () => {
      const r = parseNvidiaSmiXml(read("nvidia-smi-q-x.a100-sxm4-80gb-mig.driver535.v12.xml"));
      expect(r.driverVersion).toBe("535.54.03");
      expect(r.cudaVersion).toBe("12.2");
      // The capture was trimmed upstream: 4 attached, 1 <gpu> kept.
      expect(r.attachedGpus).toBe(4);
      expect(r.gpus).toHaveLength(1);
      const g = r.gpus[0]!;
      expect(g.busId).toBe("00000000:01:00.0");
      expect(g.pciAddress).toBe("0000:01:00.0");
      expect(g.uuid).toBe("GPU-513536b6-7d19-9063-b049-1e69664bb298");
      expect(g.productName).toBe("NVIDIA A100-SXM4-80GB");
      expect(g.architecture).toBe("Ampere");
      expect(g.memoryMib).toBe(81920);
      expect(g.minorNumber).toBe(1);
      expect(g.virtualizationMode).toBe("none");
      expect(g.hostVgpuMode).toBeUndefined();
      expect(g.migCurrent).toBe("enabled");
      expect(g.migPending).toBe("enabled");
      expect(g.migDevices.map((m) => [m.index, m.gpuInstanceId, m.computeInstanceId, m.memoryMib, m.multiprocessorCount]))
        .toEqual([[0, 3, 0, 19968, 14], [1, 4, 0, 19968, 14], [2, 5, 0, 19968, 14], [3, 6, 0, 19968, 14]]);
      // The XML has neither MIG profile names nor MIG UUIDs: they come from `nvidia-smi -L`.
      expect(g.migDevices.every((m) => m.profile === "" && m.uuid === "")).toBe(true);
    });

    it("8x Tesla V100S-PCIE-32GB passed through into a VM, DTD v11, driver 460", () => {
      const r = parseNvidiaSmiXml(read("nvidia-smi-q-x.v100s-pcie-32gb-x8-passthrough.driver460.v11.xml"));
      expect(r.driverVersion).toBe("460.73.01");
      expect(r.cudaVersion).toBe("11.2");
      expect(r.attachedGpus).toBe(8);
      expect(r.gpus.map((g) => g.busId)).toEqual([
        "00000000:00:0D.0", "00000000:00:0E.0", "00000000:00:0F.0", "00000000:00:10.0",
        "00000000:00:11.0", "00000000:00:12.0", "00000000:00:13.0", "00000000:00:14.0",
      ]);
      expect(r.gpus.map((g) => g.pciAddress)[0]).toBe("0000:00:0d.0");
      expect(r.gpus.map((g) => g.uuid)).toEqual([
        "GPU-76098dc1-d3bc-9a1b-7ea6-f7b48837829e", "GPU-bbf7a241-bf9a-eb90-b2fb-d213294faf48",
        "GPU-8f75e71c-23dd-a060-d997-4caf592954db", "GPU-3181eb56-505c-8214-ba05-c132f68f89b8",
        "GPU-2aa87d54-d4ff-2900-812b-1a4b7e119583", "GPU-39c3a168-9034-0b5a-223a-1042f30a9242",
        "GPU-d2446f91-171e-1b54-515d-9d9b03484ddf", "GPU-1d955959-c95b-4f40-2cac-100d3006ffe2",
      ]);
      expect(r.gpus.map((g) => g.index)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
      for (const g of r.gpus) {
        expect(g.productName).toBe("Tesla V100S-PCIE-32GB");
        expect(g.memoryMib).toBe(32510);
        expect(g.virtualizationMode).toBe("passthrough");
        expect(g.migCurrent).toBeUndefined();
        expect(g.migDevices).toEqual([]);
      }
    });

    it("Tesla T4 passed through into a cloud VM, DTD v11, MIG N/A", () => {
      const r = parseNvidiaSmiXml(read("nvidia-smi-q-x.tesla-t4-passthrough.driver515.v11.xml"));
      expect(r.driverVersion).toBe("515.105.01");
      expect(r.attachedGpus).toBe(1);
      const g = r.gpus[0]!;
      expect(g.pciAddress).toBe("0000:00:1e.0");
      expect(g.uuid).toBe("GPU-d37e67a5-91dd-3774-a5cb-99096249601a");
      expect(g.productName).toBe("Tesla T4");
      expect(g.memoryMib).toBe(15360);
      expect(g.virtualizationMode).toBe("passthrough");
      expect(g.migCurrent).toBeUndefined();
      expect(g.migDevices).toEqual([]);
    });

    it("2x RTX A5000, DTD v13: index follows document (PCI) order, not minor_number", () => {
      const r = parseNvidiaSmiXml(read("nvidia-smi-q-x.rtx-a5000-x2.driver590.v13.xml"));
      expect(r.driverVersion).toBe("590.44.01");
      expect(r.cudaVersion).toBe("13.1");
      expect(r.attachedGpus).toBe(2);
      expect(r.gpus.map((g) => [g.index, g.pciAddress, g.minorNumber, g.uuid])).toEqual([
        [0, "0000:81:00.0", 1, "GPU-12345678-aaaa-bbbb-cccc-0123456789ab"],
        [1, "0000:c1:00.0", 0, "GPU-12345678-aaaa-bbbb-cccc-0123456789cd"],
      ]);
      for (const g of r.gpus) {
        expect(g.productName).toBe("NVIDIA RTX A5000");
        expect(g.memoryMib).toBe(24564);
        expect(g.virtualizationMode).toBe("none");
      }
    });

    it("GRID P4-1Q seen from inside a vGPU guest", () => {
      const r = parseNvidiaSmiXml(read("nvidia-smi-q-x.grid-p4-1q-vgpu-guest.driver513.v11.xml"));
      expect(r.driverVersion).toBe("513.46");
      const g = r.gpus[0]!;
      expect(g.pciAddress).toBe("0000:00:0b.0");
      expect(g.uuid).toBe("GPU-1b1ea7c7-1c4b-ed49-1c72-26c65f2dd207");
      expect(g.productName).toBe("GRID P4-1Q");
      expect(g.memoryMib).toBe(1024);
      expect(g.virtualizationMode).toBe("vgpu_guest");
      expect(g.vgpuLicensedProduct).toBe("NVIDIA RTX Virtual Workstation");
      expect(g.minorNumber).toBeUndefined();
      expect(g.serial).toBeUndefined();
      expect(g.migDevices).toEqual([]);
    });

    it("GTX 1660 Ti on driver 418: no DOCTYPE, no mig_mode, placeholder product name", () => {
      const r = parseNvidiaSmiXml(read("nvidia-smi-q-x.gtx-1660ti.driver418.no-doctype.xml"));
      expect(r.driverVersion).toBe("418.43");
      expect(r.cudaVersion).toBe("10.1");
      const g = r.gpus[0]!;
      expect(g.pciAddress).toBe("0000:43:00.0");
      expect(g.uuid).toBe("GPU-304a277d-3545-63b8-3a36-dfde3c992989");
      expect(g.productName).toBe("Graphics Device");
      expect(g.memoryMib).toBe(5912);
      expect(g.virtualizationMode).toBe("none");
      expect(g.migCurrent).toBeUndefined();
    });
  });

  describe("parseNvidiaSmiText", () => {
    it("reads the H100 MIG capture: pass-through VM, 4 MIG devices", () => {
      const r = parseNvidiaSmiText(read("nvidia-smi-q.h100-80gb-hbm3-mig.driver590.txt"));
      expect(r.driverVersion).toBe("590.48.01");
      expect(r.cudaVersion).toBe("13.1");
      expect(r.attachedGpus).toBe(1);
      const g = r.gpus[0]!;
      expect(g.busId).toBe("00000000:00:09.0");
      expect(g.pciAddress).toBe("0000:00:09.0");
      expect(g.uuid).toBe("GPU-00000000-0000-0000-0000-000000000000");
      expect(g.productName).toBe("NVIDIA H100 80GB HBM3");
      expect(g.architecture).toBe("Hopper");
      expect(g.memoryMib).toBe(81559);
      expect(g.minorNumber).toBe(0);
      expect(g.virtualizationMode).toBe("passthrough");
      expect(g.migCurrent).toBe("enabled");
      expect(g.migDevices.map((m) => [m.index, m.gpuInstanceId, m.computeInstanceId, m.memoryMib, m.multiprocessorCount])).toEqual([
        [0, 2, 0, 40448, 60], [1, 3, 0, 20096, 32], [2, 9, 0, 9984, 16], [3, 10, 0, 9984, 16],
      ]);
    });

    it("agrees with --query-gpu CSV captured on the same H100 machine", () => {
      // The CSV has no quoted fields: splitting on ", " is enough for this cross-check.
      const [header, row] = read("nvidia-smi-query-gpu.h100-80gb-hbm3-mig.driver590.csv").trim().split("\n")
        .map((l) => l.split(", ")) as [string[], string[]];
      const csv = (k: string) => row[header.indexOf(k)];
      const r = parseNvidiaSmiText(read("nvidia-smi-q.h100-80gb-hbm3-mig.driver590.txt"));
      const g = r.gpus[0]!;
      expect([r.driverVersion, r.gpus.length, g.busId, g.uuid, g.productName, `${g.memoryMib} MiB`, g.migCurrent])
        .toEqual([csv("driver_version"), Number(csv("count")), csv("pci.bus_id"), csv("uuid"), csv("name"), csv("memory.total [MiB]"), csv("mig.mode.current")?.toLowerCase()]);
    });

    it("reads the L40S capture: pass-through, MIG N/A", () => {
      const r = parseNvidiaSmiText(read("nvidia-smi-q.l40s.driver595.txt"));
      expect(r.driverVersion).toBe("595.80");
      expect(r.cudaVersion).toBe("13.2");
      const g = r.gpus[0]!;
      expect(g.pciAddress).toBe("0000:01:00.0");
      expect(g.productName).toBe("NVIDIA L40S");
      expect(g.architecture).toBe("Ada Lovelace");
      expect(g.memoryMib).toBe(46068);
      expect(g.virtualizationMode).toBe("passthrough");
      expect(g.migCurrent).toBeUndefined();
      expect(g.migDevices).toEqual([]);
    });
  });

  describe("parseNvidiaSmiList", () => {
    it("reads the H100 MIG capture: one GPU and its four MIG devices with profiles", () => {
      const { gpus, warnings } = parseNvidiaSmiList(read("nvidia-smi-L.h100-80gb-hbm3-mig.driver590.txt"));
      expect(warnings).toEqual([]);
      expect(gpus).toHaveLength(1);
      const g = gpus[0]!;
      expect(g.index).toBe(0);
      expect(g.name).toBe("NVIDIA H100 80GB HBM3");
      expect(g.uuid).toBe("GPU-00000000-0000-0000-0000-000000000000");
      expect(g.migDevices).toEqual([
        { index: 0, profile: "3g.40gb", uuid: "MIG-00000000-0000-0000-0000-000000000000" },
        { index: 1, profile: "2g.20gb", uuid: "MIG-00000001-0000-0000-0000-000000000001" },
        { index: 2, profile: "1g.10gb", uuid: "MIG-00000002-0000-0000-0000-000000000002" },
        { index: 3, profile: "1g.10gb", uuid: "MIG-00000003-0000-0000-0000-000000000003" },
      ]);
    });
  });

  describe("parseNvidiaSmiTopo", () => {
    it("single H100: tabs, ANSI-underlined header, GPU NUMA ID column", () => {
      const t = parseNvidiaSmiTopo(read("nvidia-smi-topo-m.h100-80gb-hbm3-single-gpu.driver590.ansi.txt"));
      expect(t.gpus).toEqual([
        { index: 0, links: { GPU0: "X" }, nvlinkPeers: [], cpuAffinity: "0-19", numaNode: 0, gpuNumaId: undefined },
      ]);
      expect(t.otherDevices).toEqual([]);
    });

    it("HGX H100 x8 (spaces): NV18 all-to-all, two NUMA nodes with hyper-threaded CPU lists", () => {
      const t = parseNvidiaSmiTopo(read("nvidia-smi-topo-m.hgx-h100-x8.ml-engineering.txt"));
      expect(t.gpus.map((g) => g.index)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
      for (const g of t.gpus) {
        expect(g.nvlinkPeers).toEqual(allOthers(g.index, 8, 18));
        expect(g.links[`GPU${g.index}`]).toBe("X");
        expect(g.cpuAffinity).toBe(g.index < 4 ? "0-51,104-155" : "52-103,156-207");
        expect(g.numaNode).toBe(g.index < 4 ? 0 : 1);
        expect(g.gpuNumaId).toBeUndefined();
      }
    });

    it("A100 SXM x8 (re-spaced, no NIC and no GPU NUMA ID columns): NV12 all-to-all", () => {
      const t = parseNvidiaSmiTopo(read("nvidia-smi-topo-m.a100-sxm-x8.ml-engineering.txt"));
      expect(t.gpus).toHaveLength(8);
      for (const g of t.gpus) {
        expect(g.nvlinkPeers).toEqual(allOthers(g.index, 8, 12));
        expect(g.cpuAffinity).toBe(g.index < 4 ? "0-23" : "24-47");
        expect(g.numaNode).toBe(g.index < 4 ? 0 : 1);
      }
    });
  });

  describe("parseNvidiaSmiVgpuTypes", () => {
    it("reads the RTX PRO 6000 Blackwell DC excerpt: 3 time-sliced types and 1 MIG-backed", () => {
      const { gpus, warnings } = parseNvidiaSmiVgpuTypes(read("nvidia-smi-vgpu-s-v.rtx-pro-6000-blackwell-dc.driver580.excerpt.txt"));
      expect(warnings).toEqual([]);
      expect(gpus).toHaveLength(1);
      expect(gpus[0]!.busId).toBe("00000000:8C:00.0");
      expect(gpus[0]!.pciAddress).toBe("0000:8c:00.0");
      expect(gpus[0]!.types.map((t) => [t.vgpuTypeId, t.typeId, t.name, t.vgpuClass, t.maxInstances, t.maxInstancesPerVm, t.framebufferMib, t.migBacked, t.gpuInstanceProfileId, t.maxInstancesPerGi]))
        .toEqual([
          [0x5ee, "nvidia-1518", "NVIDIA RTX Pro 6000 Blackwell DC-2B", "NVS", 32, 1, 2048, false, undefined, undefined],
          [0x5f1, "nvidia-1521", "NVIDIA RTX Pro 6000 Blackwell DC-4Q", "Quadro", 24, 16, 4096, false, undefined, undefined],
          [0x604, "nvidia-1540", "NVIDIA RTX Pro 6000 Blackwell DC-48Q", "Quadro", 2, 16, 49152, false, undefined, undefined],
          [0x60a, "nvidia-1546", "NVIDIA RTX Pro 6000 Blackwell DC-1-2Q", "Quadro", 48, 1, 2048, true, 19, 1],
        ]);
    });
  });

  describe("mergeGpuFacts and vgpuTypesOfGpu", () => {
    it("H100 (one machine: -q, -L and topo -m): MIG profiles and UUIDs from -L, NUMA and CPUs from topo", () => {
      const { gpus, warnings } = mergeGpuFacts({
        report: parseNvidiaSmiText(read("nvidia-smi-q.h100-80gb-hbm3-mig.driver590.txt")),
        list: parseNvidiaSmiList(read("nvidia-smi-L.h100-80gb-hbm3-mig.driver590.txt")).gpus,
        topology: parseNvidiaSmiTopo(read("nvidia-smi-topo-m.h100-80gb-hbm3-single-gpu.driver590.ansi.txt")),
      });
      expect(warnings).toEqual([]);
      expect(gpus).toEqual([{
        pciAddress: "0000:00:09.0",
        uuid: "GPU-00000000-0000-0000-0000-000000000000",
        model: "NVIDIA H100 80GB HBM3",
        memoryMib: 81559,
        numaNode: 0,
        virtualizationMode: "passthrough",
        migEnabled: true,
        migDevices: [
          { gpuInstanceId: 2, computeInstanceId: 0, profile: "3g.40gb", memoryMib: 40448, uuid: "MIG-00000000-0000-0000-0000-000000000000" },
          { gpuInstanceId: 3, computeInstanceId: 0, profile: "2g.20gb", memoryMib: 20096, uuid: "MIG-00000001-0000-0000-0000-000000000001" },
          { gpuInstanceId: 9, computeInstanceId: 0, profile: "1g.10gb", memoryMib: 9984, uuid: "MIG-00000002-0000-0000-0000-000000000002" },
          { gpuInstanceId: 10, computeInstanceId: 0, profile: "1g.10gb", memoryMib: 9984, uuid: "MIG-00000003-0000-0000-0000-000000000003" },
        ],
        nvlinkPeers: [],
        vgpuTypes: [],
        driverVersion: "590.48.01",
        cpuAffinity: "0-19",
      }]);
    });

    it("A100 MIG without -L keeps MIG devices with empty profiles", () => {
      const { gpus } = mergeGpuFacts({ report: parseNvidiaSmiXml(read("nvidia-smi-q-x.a100-sxm4-80gb-mig.driver535.v12.xml")) });
      expect(gpus[0]!.migEnabled).toBe(true);
      expect(gpus[0]!.migDevices.map((m) => [m.gpuInstanceId, m.profile, m.memoryMib])).toEqual([
        [3, "", 19968], [4, "", 19968], [5, "", 19968], [6, "", 19968],
      ]);
      expect(gpus[0]!.numaNode).toBe(-1);
      expect(gpus[0]!.cpuAffinity).toBe("");
    });

    it("maps NVLink peers from topo indexes to PCI addresses (8 V100S report with an 8-GPU NV12 matrix)", () => {
      // Two machines' captures put together to exercise the index → PCI address mapping.
      const { gpus, warnings } = mergeGpuFacts({
        report: parseNvidiaSmiXml(read("nvidia-smi-q-x.v100s-pcie-32gb-x8-passthrough.driver460.v11.xml")),
        topology: parseNvidiaSmiTopo(read("nvidia-smi-topo-m.a100-sxm-x8.ml-engineering.txt")),
      });
      expect(warnings).toEqual([]);
      const all = gpus.map((g) => g.pciAddress);
      expect(all[0]).toBe("0000:00:0d.0");
      for (const g of gpus) {
        expect(g.nvlinkPeers).toEqual(all.filter((a) => a !== g.pciAddress));
        expect(g.numaNode).toBe(all.indexOf(g.pciAddress) < 4 ? 0 : 1);
      }
    });

    it("warns about NVLink peers that -q does not list (trimmed A100 report, 8-GPU matrix)", () => {
      const { gpus, warnings } = mergeGpuFacts({
        report: parseNvidiaSmiXml(read("nvidia-smi-q-x.a100-sxm4-80gb-mig.driver535.v12.xml")),
        topology: parseNvidiaSmiTopo(read("nvidia-smi-topo-m.hgx-h100-x8.ml-engineering.txt")),
      });
      expect(gpus[0]!.nvlinkPeers).toEqual([]);
      expect(gpus[0]!.cpuAffinity).toBe("0-51,104-155");
      expect(warnings).toHaveLength(7);
      expect(warnings[0]).toMatch(/GPU0 has an NVLink to GPU1/);
    });

    it("uses the sysfs NUMA node when topo -m is missing or says N/A", () => {
      const report = parseNvidiaSmiXml(read("nvidia-smi-q-x.rtx-a5000-x2.driver590.v13.xml"));
      const { gpus } = mergeGpuFacts({ report, sysfsNumaNodes: { "0000:81:00.0": 1, "0000:c1:00.0": -1 } });
      expect(gpus.map((g) => g.numaNode)).toEqual([1, -1]);
    });

    it("attaches vGPU types by physical GPU, summing instances over its VFs", () => {
      const report = parseNvidiaSmiXml(read("nvidia-smi-q-x.rtx-a5000-x2.driver590.v13.xml"));
      const { gpus } = mergeGpuFacts({
        report,
        sysfsVgpuTypes: [
          sysfsType({ parentPci: "0000:81:00.4", gpuPci: "0000:81:00.0", typeId: "nvidia-657", name: "NVIDIA RTXA5000-4Q", maxInstances: 1, framebufferMib: 4096 }),
          sysfsType({ parentPci: "0000:81:00.5", gpuPci: "0000:81:00.0", typeId: "nvidia-657", name: "NVIDIA RTXA5000-4Q", maxInstances: 1, framebufferMib: 4096 }),
          sysfsType({ parentPci: "0000:81:00.5", gpuPci: "0000:81:00.0", typeId: "nvidia-660", name: "NVIDIA RTXA5000-24Q", availableInstances: 0 }),
        ],
      });
      expect(gpus[0]!.vgpuTypes).toEqual([
        { typeId: "nvidia-657", name: "NVIDIA RTXA5000-4Q", availableInstances: 2, maxInstances: 2, framebufferMib: 4096, description: "" },
        { typeId: "nvidia-660", name: "NVIDIA RTXA5000-24Q", availableInstances: 0, maxInstances: 0, framebufferMib: 0, description: "" },
      ]);
      expect(gpus[1]!.vgpuTypes).toEqual([]);
    });

    it("enriches creatable types with nvidia-smi vgpu -s limits and adds supported ones with 0 available", () => {
      const supported = parseNvidiaSmiVgpuTypes(read("nvidia-smi-vgpu-s-v.rtx-pro-6000-blackwell-dc.driver580.excerpt.txt")).gpus;
      const types = vgpuTypesOfGpu("0000:8c:00.0", [
        sysfsType({ parentPci: "0000:8c:00.4", gpuPci: "0000:8c:00.0", typeId: "nvidia-1521", name: "NVIDIA RTX Pro 6000 Blackwell DC-4Q", framework: "vfio" }),
        sysfsType({ parentPci: "0000:8c:00.5", gpuPci: "0000:8c:00.0", typeId: "nvidia-1521", name: "NVIDIA RTX Pro 6000 Blackwell DC-4Q", framework: "vfio" }),
      ], supported);
      expect(types.map((t) => [t.typeId, t.name, t.availableInstances, t.maxInstances, t.framebufferMib])).toEqual([
        ["nvidia-1518", "NVIDIA RTX Pro 6000 Blackwell DC-2B", 0, 32, 2048],
        ["nvidia-1521", "NVIDIA RTX Pro 6000 Blackwell DC-4Q", 2, 24, 4096],
        ["nvidia-1540", "NVIDIA RTX Pro 6000 Blackwell DC-48Q", 0, 2, 49152],
        ["nvidia-1546", "NVIDIA RTX Pro 6000 Blackwell DC-1-2Q", 0, 48, 2048],
      ]);
    });
  });

  describe("groupGpus", () => {
    it("puts the 8 identical V100S of a host in one CloudStack-style group", () => {
      const groups = groupGpus(gpusOf("nvidia-smi-q-x.v100s-pcie-32gb-x8-passthrough.driver460.v11.xml"));
      expect(groups).toHaveLength(1);
      expect(groups[0]!.name).toBe("Group of NVIDIA Corporation Tesla V100S-PCIE-32GB GPUs");
      expect(groups[0]!.memoryMib).toBe(32510);
      expect(groups[0]!.devices.map((d) => d.pciAddress)).toEqual([
        "0000:00:0d.0", "0000:00:0e.0", "0000:00:0f.0", "0000:00:10.0", "0000:00:11.0", "0000:00:12.0", "0000:00:13.0", "0000:00:14.0",
      ]);
      expect(groups[0]!.vgpuTypes).toEqual([]);
    });

    it("separates different models, keeping first-appearance order", () => {
      const gpus = [
        ...gpusOf("nvidia-smi-q-x.rtx-a5000-x2.driver590.v13.xml"),
        ...gpusOf("nvidia-smi-q-x.tesla-t4-passthrough.driver515.v11.xml"),
        ...gpusOf("nvidia-smi-q-x.a100-sxm4-80gb-mig.driver535.v12.xml"),
      ];
      expect(groupGpus(gpus).map((g) => [g.name, g.devices.length])).toEqual([
        ["Group of NVIDIA Corporation RTX A5000 GPUs", 2],
        ["Group of NVIDIA Corporation Tesla T4 GPUs", 1],
        ["Group of NVIDIA Corporation A100-SXM4-80GB GPUs", 1],
      ]);
    });

    it("sums the vGPU instances that can still be created across the group", () => {
      const [a, b] = gpusOf("nvidia-smi-q-x.rtx-a5000-x2.driver590.v13.xml") as [Gpu, Gpu];
      a.vgpuTypes = [
        { typeId: "nvidia-657", name: "NVIDIA RTXA5000-4Q", availableInstances: 6, maxInstances: 6, framebufferMib: 4096, description: "" },
        { typeId: "nvidia-660", name: "NVIDIA RTXA5000-24Q", availableInstances: 0, maxInstances: 1, framebufferMib: 24576, description: "" },
      ];
      b.vgpuTypes = [{ typeId: "nvidia-657", name: "NVIDIA RTXA5000-4Q", availableInstances: 2, maxInstances: 6, framebufferMib: 4096, description: "" }];
      const [group] = groupGpus([a, b]);
      expect(group!.vgpuTypes).toEqual([
        { typeId: "nvidia-657", name: "NVIDIA RTXA5000-4Q", framebufferMib: 4096, maxInstancesPerGpu: 6, maxInstances: 12, remainingInstances: 8, gpuCount: 2 },
        { typeId: "nvidia-660", name: "NVIDIA RTXA5000-24Q", framebufferMib: 24576, maxInstancesPerGpu: 1, maxInstances: 1, remainingInstances: 0, gpuCount: 1 },
      ]);
    });
  });

  describe("NvidiaGpuInventory with a fake nvidia-smi printing captured outputs", () => {
    let dir: string;
    let sysfs: FakeSysfs;
    beforeEach(async () => {
      dir = await mkdtemp(join(tmpdir(), "orbit-fake-nvsmi-"));
      sysfs = await FakeSysfs.create();
    });
    afterEach(async () => {
      await rm(dir, { recursive: true, force: true });
      await sysfs.dispose();
    });

    it("falls back to the captured text form of -q when -q -x prints no readable XML (H100 MIG)", async () => {
      const smi = await fakeNvidiaSmi(dir, {
        "-q -x": "echo 'WARNING: the XML report is not available'; exit 0",
        "-q": cat("nvidia-smi-q.h100-80gb-hbm3-mig.driver590.txt"),
        "-L": cat("nvidia-smi-L.h100-80gb-hbm3-mig.driver590.txt"),
        "topo -m": cat("nvidia-smi-topo-m.h100-80gb-hbm3-single-gpu.driver590.ansi.txt"),
      });
      const d = await new NvidiaGpuInventory({ nvidiaSmiPath: smi, sysfsRoot: sysfs.root }).discover();
      expect(d.gpus.map((g) => [g.pciAddress, g.model, g.numaNode, g.migEnabled, g.migDevices.map((m) => m.profile)])).toEqual([
        ["0000:00:09.0", "NVIDIA H100 80GB HBM3", 0, true, ["3g.40gb", "2g.20gb", "1g.10gb", "1g.10gb"]],
      ]);
      expect(d.warnings).toHaveLength(1);
      expect(d.warnings[0]).toMatch(/-q -x: output not understood \(.*\); using the text form \(.* -q\) instead$/);
    });

    it("keeps the GPUs a failing nvidia-smi still printed, with a warning", async () => {
      const smi = await fakeNvidiaSmi(dir, {
        "-q -x": `${cat("nvidia-smi-q-x.tesla-t4-passthrough.driver515.v11.xml")}; echo 'Unable to determine the device handle for GPU0000:00:1F.0: Unknown Error' >&2; exit 15`,
        "-L": "echo 'GPU 0: Tesla T4 (UUID: GPU-d37e67a5-91dd-3774-a5cb-99096249601a)'",
        "topo -m": cat("nvidia-smi-topo-m.h100-80gb-hbm3-single-gpu.driver590.ansi.txt"),
      });
      const d = await new NvidiaGpuInventory({ nvidiaSmiPath: smi, sysfsRoot: sysfs.root }).discover();
      expect(d.gpus.map((g) => [g.pciAddress, g.model, g.numaNode])).toEqual([["0000:00:1e.0", "Tesla T4", 0]]);
      expect(d.warnings).toEqual([
        `${smi} -q -x failed (exit code 15): Unable to determine the device handle for GPU0000:00:1F.0: Unknown Error; using the 1 GPU(s) it still reported`,
      ]);
    });

    it("merges -q -x, topo -m and sysfs NUMA; a failing -L is only a warning", async () => {
      const smi = await fakeNvidiaSmi(dir, {
        "-q -x": cat(V100_XML),
        "-L": "echo 'Failed to initialize NVML: Unknown Error'; exit 255",
        "topo -m": cat("nvidia-smi-topo-m.a100-sxm-x8.ml-engineering.txt"),
      });
      const d = await new NvidiaGpuInventory({ nvidiaSmiPath: smi, sysfsRoot: sysfs.root }).discover();
      expect(d.warnings).toEqual([`${smi} -L failed (exit code 255): Failed to initialize NVML: Unknown Error`]);
      expect(d.gpus).toHaveLength(8);
      const g0 = d.gpus[0]!;
      expect(g0).toMatchObject({
        pciAddress: "0000:00:0d.0", uuid: "GPU-76098dc1-d3bc-9a1b-7ea6-f7b48837829e", model: "Tesla V100S-PCIE-32GB",
        memoryMib: 32510, numaNode: 0, cpuAffinity: "0-23", virtualizationMode: "passthrough", driverVersion: "460.73.01",
        migEnabled: false, migDevices: [], vgpuTypes: [],
      });
      expect(g0.nvlinkPeers).toHaveLength(7);
      expect(d.gpus[7]!.numaNode).toBe(1);
    });

    it("without topo -m takes NUMA nodes from sysfs, and reads vGPU types plus vgpu -s limits on a vGPU host", async () => {
      await sysfs.addPciDevice("0000:81:00.0", { numaNode: 1 });
      await sysfs.addMdevParent("0000:81:00.4", [
        { typeId: "nvidia-657", name: "NVIDIA RTXA5000-4Q", availableInstances: 1, description: "num_heads=4, frl_config=60, framebuffer=4096M, max_resolution=7680x4320, max_instance=1" },
      ], { physfn: "0000:81:00.0" });
      await sysfs.addPciDevice("0000:c1:00.0", { numaNode: 0 });
      const vgpuS = "GPU 00000000:81:00.0\n    vGPU Type ID : 0x291\n        Name : NVIDIA RTXA5000-4Q\n        Max Instances : 6\n        FB Memory : 4096 MiB\n";
      await writeFile(join(dir, "vgpu-s.txt"), vgpuS);
      const smi = await fakeNvidiaSmi(dir, {
        "-q -x": cat("nvidia-smi-q-x.rtx-a5000-x2.driver590.v13.xml"),
        "-L": "echo 'GPU 0: NVIDIA RTX A5000 (UUID: GPU-12345678-aaaa-bbbb-cccc-0123456789ab)'; echo 'GPU 1: NVIDIA RTX A5000 (UUID: GPU-12345678-aaaa-bbbb-cccc-0123456789cd)'",
        "topo -m": "echo garbage; exit 0",
        "vgpu -s -v": `cat '${join(dir, "vgpu-s.txt")}'`,
      });
      const d = await new NvidiaGpuInventory({ nvidiaSmiPath: smi, sysfsRoot: sysfs.root }).discover();
      expect(d.warnings).toHaveLength(1);
      expect(d.warnings[0]).toMatch(/topo -m: output not understood .*; ignored/);
      expect(d.gpus.map((g) => [g.pciAddress, g.numaNode])).toEqual([["0000:81:00.0", 1], ["0000:c1:00.0", 0]]);
      expect(d.gpus[0]!.vgpuTypes).toEqual([
        { typeId: "nvidia-657", name: "NVIDIA RTXA5000-4Q", availableInstances: 1, maxInstances: 6, framebufferMib: 4096, description: "num_heads=4, frl_config=60, framebuffer=4096M, max_resolution=7680x4320, max_instance=1" },
      ]);
      expect(d.gpus[1]!.vgpuTypes).toEqual([]);
    });
  });
});
