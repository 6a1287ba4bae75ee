import { describe, expect, it } from "vitest";
import { GpuParseError } from "./gpu-parse-error.js";
import { parseNvidiaSmiXml } from "./nvidia-smi-xml.parser.js";
import { readGpuFixture } from "./test-fixtures.js";

describe("parseNvidiaSmiXml on real captures", () => {
  it("A100-SXM4-80GB, DTD v12, bare metal with MIG enabled and 4 MIG devices", () => {
    const r = parseNvidiaSmiXml(readGpuFixture("nvidia-smi-q-x.a100-sxm4-80gb-mig.driver535.v12.xml"));
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
    const r = parseNvidiaSmiXml(readGpuFixture("nvidia-smi-q-x.v100s-pcie-32gb-x8-passthrough.driver460.v11.xml"));
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
    const r = parseNvidiaSmiXml(readGpuFixture("nvidia-smi-q-x.tesla-t4-passthrough.driver515.v11.xml"));
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
    const r = parseNvidiaSmiXml(readGpuFixture("nvidia-smi-q-x.rtx-a5000-x2.driver590.v13.xml"));
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
    const r = parseNvidiaSmiXml(readGpuFixture("nvidia-smi-q-x.grid-p4-1q-vgpu-guest.driver513.v11.xml"));
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
    const r = parseNvidiaSmiXml(readGpuFixture("nvidia-smi-q-x.gtx-1660ti.driver418.no-doctype.xml"));
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

describe("parseNvidiaSmiXml robustness", () => {
  it("reads a minimal report with missing elements and N/A values", () => {
    const r = parseNvidiaSmiXml(`<?xml version="1.0" ?>
      <nvidia_smi_log><driver_version>N/A</driver_version>
        <gpu id="00000000:3B:00.0"><product_name>N/A</product_name><fb_memory_usage><total>N/A</total></fb_memory_usage></gpu>
      </nvidia_smi_log>`);
    expect(r.driverVersion).toBe("");
    expect(r.attachedGpus).toBe(1);
    const g = r.gpus[0]!;
    expect(g.pciAddress).toBe("0000:3b:00.0"); // from the id attribute when <pci> is missing
    expect(g.productName).toBe("");
    expect(g.memoryMib).toBe(0);
    expect(g.virtualizationMode).toBe("unknown");
    expect(g.migDevices).toEqual([]);
  });

  it("reads a host vGPU mode and a single mig_device as a list", () => {
    const r = parseNvidiaSmiXml(`<nvidia_smi_log><gpu id="00000000:41:00.0">
      <gpu_virtualization_mode><virtualization_mode>Host VGPU</virtualization_mode><host_vgpu_mode>SR-IOV</host_vgpu_mode></gpu_virtualization_mode>
      <mig_mode><current_mig>Enabled</current_mig><pending_mig>Disabled</pending_mig></mig_mode>
      <mig_devices><mig_device><index>0</index><gpu_instance_id>1</gpu_instance_id><compute_instance_id>0</compute_instance_id>
      <fb_memory_usage><total>40192 MiB</total></fb_memory_usage></mig_device></mig_devices></gpu></nvidia_smi_log>`);
    const g = r.gpus[0]!;
    expect(g.virtualizationMode).toBe("vgpu_host");
    expect(g.hostVgpuMode).toBe("SR-IOV");
    expect(g.migPending).toBe("disabled");
    expect(g.migDevices).toHaveLength(1);
    expect(g.migDevices[0]!.memoryMib).toBe(40192);
  });

  it("decodes XML entities in values", () => {
    const r = parseNvidiaSmiXml('<nvidia_smi_log><gpu id="00000000:01:00.0"><product_name>Quadro RTX 8000 &amp; NVLink</product_name></gpu></nvidia_smi_log>');
    expect(r.gpus[0]!.productName).toBe("Quadro RTX 8000 & NVLink");
  });

  it("reads a report with no GPU at all", () => {
    expect(parseNvidiaSmiXml("<nvidia_smi_log><attached_gpus>0</attached_gpus></nvidia_smi_log>").gpus).toEqual([]);
  });

  it("rejects garbage and other XML documents with a GpuParseError", () => {
    expect(() => parseNvidiaSmiXml("NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver."))
      .toThrow(GpuParseError);
    expect(() => parseNvidiaSmiXml("<nvidia_smi_log><gpu></nvidia_smi_log>")).toThrow(/not valid XML/);
    expect(() => parseNvidiaSmiXml("<other/>")).toThrow(/nvidia_smi_log/);
  });
});
