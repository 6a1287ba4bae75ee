import { describe, expect, it } from "vitest";
import { GpuParseError } from "./gpu-parse-error.js";
import { parseNvidiaSmiXml } from "./nvidia-smi-xml.parser.js";
import { readGpuSample } from "./test-fixtures.js";

describe("parseNvidiaSmiXml on Orbit's samples (testdata/)", () => {
  it("A100-SXM4-40GB, DTD v12, bare metal with MIG enabled; `-i 0` of a 4-GPU host lists one <gpu>", () => {
    const r = parseNvidiaSmiXml(readGpuSample("nvidia-smi-q-x.a100-sxm4-40gb-x4-mig.gpu0.driver550.v12.xml"));
    expect(r.driverVersion).toBe("550.90.07");
    expect(r.cudaVersion).toBe("12.4");
    expect(r.attachedGpus).toBe(4);
    expect(r.gpus).toHaveLength(1);
    const g = r.gpus[0]!;
    expect(g.index).toBe(0);
    expect(g.busId).toBe("00000000:07:00.0");
    expect(g.pciAddress).toBe("0000:07:00.0");
    expect(g.uuid).toBe("GPU-5d0a7c1e-3f29-8b4e-a61d-92c4e0b7f318");
    expect(g.productName).toBe("NVIDIA A100-SXM4-40GB");
    expect(g.productBrand).toBe("NVIDIA");
    expect(g.architecture).toBe("Ampere");
    expect(g.memoryMib).toBe(40960);
    expect(g.minorNumber).toBe(2);
    expect(g.serial).toBe("1562821054817");
    expect(g.virtualizationMode).toBe("none");
    expect(g.hostVgpuMode).toBeUndefined();
    expect(g.migCurrent).toBe("enabled");
    expect(g.migPending).toBe("enabled");
    expect(g.migDevices.map((m) => [m.index, m.gpuInstanceId, m.computeInstanceId, m.memoryMib, m.multiprocessorCount]))
      .toEqual([[0, 1, 0, 19968, 42], [1, 5, 0, 9856, 28], [2, 13, 0, 4864, 14], [3, 14, 0, 4864, 14]]);
    // The XML has neither MIG profile names nor MIG UUIDs: they come from `nvidia-smi -L`.
    expect(g.migDevices.every((m) => m.profile === "" && m.uuid === "")).toBe(true);
  });

  it("8x Tesla V100-SXM2-32GB passed through into a VM, DTD v11, driver 470", () => {
    const r = parseNvidiaSmiXml(readGpuSample("nvidia-smi-q-x.v100-sxm2-32gb-x8-vm.driver470.v11.xml"));
    expect(r.driverVersion).toBe("470.256.02");
    expect(r.cudaVersion).toBe("11.4");
    expect(r.attachedGpus).toBe(8);
    expect(r.gpus.map((g) => g.busId)).toEqual([
      "00000000:00:16.0", "00000000:00:17.0", "00000000:00:18.0", "00000000:00:19.0",
      "00000000:00:1A.0", "00000000:00:1B.0", "00000000:00:1C.0", "00000000:00:1D.0",
    ]);
    expect(r.gpus.map((g) => g.pciAddress)).toEqual([
      "0000:00:16.0", "0000:00:17.0", "0000:00:18.0", "0000:00:19.0", "0000:00:1a.0", "0000:00:1b.0", "0000:00:1c.0", "0000:00:1d.0",
    ]);
    expect(r.gpus.map((g) => g.uuid)).toEqual([
      "GPU-0b6f2c3e-8a41-5d97-1e2f-6c3b9a0d4e71", "GPU-1e94d7a2-c35b-46f0-9b8e-27d1a5c0f6b3",
      "GPU-2c7a0f51-9e3d-4b82-a6c4-d8e1f3705b9a", "GPU-3f18b6d4-07ae-42c9-8d5b-e19c4a6f2073",
      "GPU-4a2d9e60-b1f7-4c35-9e08-5f3c71d2a8b4", "GPU-5b83c1f7-62d0-4ea9-b574-0a9e6d3c8f12",
      "GPU-6d05e4a9-3c2b-4f18-87d6-b2a0c95e1f47", "GPU-7e61f8b2-d49a-40c7-a3e5-1c8d07b6f592",
    ]);
    expect(r.gpus.map((g) => g.index)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    for (const g of r.gpus) {
      expect(g.productName).toBe("Tesla V100-SXM2-32GB");
      expect(g.architecture).toBe("Volta");
      expect(g.memoryMib).toBe(32510);
      expect(g.virtualizationMode).toBe("passthrough");
      expect(g.migCurrent).toBeUndefined();
      expect(g.migDevices).toEqual([]);
    }
  });

  it("NVIDIA A10 passed through into a cloud VM, DTD v12, MIG N/A", () => {
    const r = parseNvidiaSmiXml(readGpuSample("nvidia-smi-q-x.a10-vm.driver550.v12.xml"));
    expect(r.driverVersion).toBe("550.127.05");
    expect(r.attachedGpus).toBe(1);
    const g = r.gpus[0]!;
    expect(g.pciAddress).toBe("0000:00:1e.0");
    expect(g.uuid).toBe("GPU-a4c19e27-60f3-8d5b-2e7a-f0b9c6d3184e");
    expect(g.productName).toBe("NVIDIA A10");
    expect(g.memoryMib).toBe(23028);
    expect(g.virtualizationMode).toBe("passthrough");
    expect(g.migCurrent).toBeUndefined();
    expect(g.migPending).toBeUndefined();
    expect(g.migDevices).toEqual([]);
  });

  it("2x H100 PCIe on a vGPU host, DTD v13: SR-IOV host mode, MIG disabled, index follows document (PCI) order, not minor_number", () => {
    const r = parseNvidiaSmiXml(readGpuSample("nvidia-smi-q-x.h100-pcie-x2-vgpu-host.driver580.v13.xml"));
    expect(r.driverVersion).toBe("580.82.02");
    expect(r.cudaVersion).toBeUndefined(); // N/A: the vGPU manager has no CUDA
    expect(r.attachedGpus).toBe(2);
    expect(r.gpus.map((g) => [g.index, g.pciAddress, g.minorNumber, g.uuid])).toEqual([
      [0, "0000:2a:00.0", 1, "GPU-c2e8a017-5b94-4d36-8f1c-7a0e93d6b25f"],
      [1, "0000:ab:00.0", 0, "GPU-d93f6b28-1c07-47e5-a2b9-3e8d14f0c6a7"],
    ]);
    for (const g of r.gpus) {
      expect(g.productName).toBe("NVIDIA H100 PCIe");
      expect(g.architecture).toBe("Hopper");
      expect(g.memoryMib).toBe(81559);
      expect(g.virtualizationMode).toBe("vgpu_host");
      expect(g.hostVgpuMode).toBe("SR-IOV");
      expect(g.migCurrent).toBe("disabled");
      expect(g.migPending).toBe("disabled");
      expect(g.migDevices).toEqual([]);
    }
  });

  it("NVIDIA A16-2Q seen from inside a Windows vGPU guest: licensed product, N/A minor number and serial", () => {
    const r = parseNvidiaSmiXml(readGpuSample("nvidia-smi-q-x.a16-2q-vgpu-guest-windows.driver538.v12.xml"));
    expect(r.driverVersion).toBe("538.46");
    const g = r.gpus[0]!;
    expect(g.pciAddress).toBe("0000:02:00.0");
    expect(g.uuid).toBe("GPU-7f3e2d1c-9a8b-11ef-b4c6-5e2a9f0d7c31");
    expect(g.productName).toBe("NVIDIA A16-2Q");
    expect(g.memoryMib).toBe(2048);
    expect(g.virtualizationMode).toBe("vgpu_guest");
    expect(g.vgpuLicensedProduct).toBe("NVIDIA RTX Virtual Workstation");
    expect(g.minorNumber).toBeUndefined();
    expect(g.serial).toBeUndefined();
    expect(g.migDevices).toEqual([]);
  });

  it("RTX 2070 SUPER on driver 418: no DOCTYPE, no mig_mode, no architecture, placeholder product name", () => {
    const r = parseNvidiaSmiXml(readGpuSample("nvidia-smi-q-x.rtx2070super.driver418.no-doctype.xml"));
    expect(r.driverVersion).toBe("418.56");
    expect(r.cudaVersion).toBe("10.1");
    const g = r.gpus[0]!;
    expect(g.pciAddress).toBe("0000:0a:00.0");
    expect(g.uuid).toBe("GPU-e1b7a3f4-6c2d-5e80-9f1a-8d4c2b7e0a65");
    expect(g.productName).toBe("Graphics Device");
    expect(g.productBrand).toBe("GeForce");
    expect(g.architecture).toBeUndefined();
    expect(g.memoryMib).toBe(7982);
    expect(g.virtualizationMode).toBe("none");
    expect(g.migCurrent).toBeUndefined();
    expect(g.migDevices).toEqual([]);
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

  it("keeps every GPU behind a banner printed before <?xml> and text after the report, warning about both", () => {
    const xml = readGpuSample("nvidia-smi-q-x.v100-sxm2-32gb-x8-vm.driver470.v11.xml");
    const r = parseNvidiaSmiXml(`WARNING: infoROM is corrupted at gpu 0000:00:16.0\nWARNING: something else\n${xml}\nSegmentation fault\n`);
    expect(r.gpus).toHaveLength(8);
    expect(r.gpus).toEqual(parseNvidiaSmiXml(xml).gpus);
    expect(r.warnings).toEqual([
      "nvidia-smi -q -x: ignored 2 line(s) printed before the XML: WARNING: infoROM is corrupted at gpu 0000:00:16.0",
      "nvidia-smi -q -x: ignored 1 line(s) printed after the XML: Segmentation fault",
    ]);
    expect(parseNvidiaSmiXml(xml).warnings).toEqual([]);
  });

  it.each(["N/A", "[N/A]", "Not Found", "Not Supported", "Unknown Error", "[Unknown Error]", "[Insufficient Permissions]", "[GPU requires reset]"])(
    "reads the placeholder %s as an absent value everywhere, never as a version, mode or name",
    (placeholder) => {
      const r = parseNvidiaSmiXml(`<nvidia_smi_log><driver_version>${placeholder}</driver_version><cuda_version>${placeholder}</cuda_version>
        <attached_gpus>${placeholder}</attached_gpus><gpu id="00000000:3B:00.0"><product_name>${placeholder}</product_name>
        <uuid>${placeholder}</uuid><serial>${placeholder}</serial><minor_number>${placeholder}</minor_number>
        <fb_memory_usage><total>${placeholder}</total></fb_memory_usage>
        <gpu_virtualization_mode><virtualization_mode>${placeholder}</virtualization_mode><host_vgpu_mode>${placeholder}</host_vgpu_mode></gpu_virtualization_mode>
        <mig_mode><current_mig>${placeholder}</current_mig></mig_mode></gpu></nvidia_smi_log>`);
      expect([r.driverVersion, r.cudaVersion, r.attachedGpus]).toEqual(["", undefined, 1]);
      const g = r.gpus[0]!;
      expect([g.productName, g.uuid, g.serial, g.minorNumber, g.memoryMib, g.virtualizationMode, g.hostVgpuMode, g.migCurrent])
        .toEqual(["", "", undefined, undefined, 0, "unknown", undefined, undefined]);
    },
  );

  it("still reads None as the virtualization mode of a bare-metal GPU", () => {
    const r = parseNvidiaSmiXml('<nvidia_smi_log><gpu id="00000000:01:00.0"><gpu_virtualization_mode><virtualization_mode>None</virtualization_mode></gpu_virtualization_mode></gpu></nvidia_smi_log>');
    expect(r.gpus[0]!.virtualizationMode).toBe("none");
  });
});
