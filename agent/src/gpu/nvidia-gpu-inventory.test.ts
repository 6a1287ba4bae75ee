import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FakeSysfs } from "./fake-sysfs.js";
import { NvidiaGpuInventory } from "./nvidia-gpu-inventory.js";
import { catFile, fakeNvidiaSmi } from "./fake-nvidia-smi.js";
import { gpuSamplePath, readGpuSample } from "./test-fixtures.js";
import { buildH100VgpuHostSysfs } from "./testdata/h100-pcie-x2-vgpu-host.sysfs.js";

const cat = (sample: string) => catFile(gpuSamplePath(sample));

describe("NvidiaGpuInventory", () => {
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

  it("reports no GPUs and no warning on a host without nvidia-smi", async () => {
    const inv = new NvidiaGpuInventory({ nvidiaSmiPath: join(dir, "no-such-nvidia-smi"), sysfsRoot: sysfs.root });
    expect(await inv.discover()).toEqual({ gpus: [], warnings: [] });
  });

  it("turns a failing nvidia-smi into a clear warning", async () => {
    const smi = await fakeNvidiaSmi(dir, {
      "-q -x": "echo \"NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. Make sure that the latest NVIDIA driver is installed and running.\"; exit 9",
    });
    const d = await new NvidiaGpuInventory({ nvidiaSmiPath: smi, sysfsRoot: sysfs.root }).discover();
    expect(d.gpus).toEqual([]);
    expect(d.warnings).toHaveLength(1);
    expect(d.warnings[0]).toContain("-q -x failed (exit code 9): NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver");
  });

  it("keeps the GPUs a failing nvidia-smi still printed, with a warning", async () => {
    const smi = await fakeNvidiaSmi(dir, {
      "-q -x": `${cat("nvidia-smi-q-x.a10-vm.driver550.v12.xml")}; echo 'Unable to determine the device handle for GPU0000:00:1F.0: Unknown Error' >&2; exit 15`,
      "-L": "echo 'GPU 0: NVIDIA A10 (UUID: GPU-a4c19e27-60f3-8d5b-2e7a-f0b9c6d3184e)'",
      "topo -m": cat("nvidia-smi-topo-m.a10-vm.driver550.txt"),
    });
    const d = await new NvidiaGpuInventory({ nvidiaSmiPath: smi, sysfsRoot: sysfs.root }).discover();
    // topo -m says NUMA N/A and the (fake) sysfs does not know the device either.
    expect(d.gpus.map((g) => [g.pciAddress, g.model, g.numaNode, g.cpuAffinity])).toEqual([["0000:00:1e.0", "NVIDIA A10", -1, "0-7"]]);
    expect(d.warnings).toEqual([
      `${smi} -q -x failed (exit code 15): Unable to determine the device handle for GPU0000:00:1F.0: Unknown Error; using the 1 GPU(s) it still reported`,
    ]);
  });

  it("turns garbage output into a warning when the text form does not help either", async () => {
    const smi = await fakeNvidiaSmi(dir, {
      "-q -x": "echo 'Segmentation fault (core dumped) <<<'",
      "-q": "echo 'Segmentation fault (core dumped) <<<'",
    });
    const d = await new NvidiaGpuInventory({ nvidiaSmiPath: smi, sysfsRoot: sysfs.root }).discover();
    expect(d.gpus).toEqual([]);
    expect(d.warnings).toHaveLength(1);
    expect(d.warnings[0]).toMatch(
      /-q -x: output not understood \(.*\); no GPUs reported \(fallback to the text form: .* -q: output not understood \(nvidia-smi -q: neither a driver version nor a GPU section found\)\)$/,
    );
  });

  it("falls back to the text form of -q when -q -x prints no readable XML", async () => {
    const smi = await fakeNvidiaSmi(dir, {
      "-q -x": "echo '<nvidia_smi_log><gpu id=\"00000000:00:1E.0\"><product_name>truncated'",
      "-q": cat("nvidia-smi-q.a10-vm.driver550.txt"),
      "-L": "echo 'GPU 0: NVIDIA A10 (UUID: GPU-a4c19e27-60f3-8d5b-2e7a-f0b9c6d3184e)'",
      "topo -m": cat("nvidia-smi-topo-m.a10-vm.driver550.txt"),
    });
    const d = await new NvidiaGpuInventory({ nvidiaSmiPath: smi, sysfsRoot: sysfs.root }).discover();
    expect(d.gpus.map((g) => [g.pciAddress, g.model, g.memoryMib, g.driverVersion, g.cpuAffinity])).toEqual([
      ["0000:00:1e.0", "NVIDIA A10", 23028, "550.127.05", "0-7"],
    ]);
    expect(d.warnings).toHaveLength(1);
    expect(d.warnings[0]).toMatch(new RegExp(`^${smi} -q -x: output not understood \\(.*\\); using the text form \\(${smi} -q\\) instead$`));
  });

  it("falls back to the text form of -q when -q -x fails (a driver without XML output)", async () => {
    const smi = await fakeNvidiaSmi(dir, {
      "-q -x": "echo 'Invalid combination of input arguments. Please run nvidia-smi -h for help.'; exit 2",
      "-q": cat("nvidia-smi-q.a10-vm.driver550.txt"),
      "-L": "echo 'GPU 0: NVIDIA A10 (UUID: GPU-a4c19e27-60f3-8d5b-2e7a-f0b9c6d3184e)'",
      "topo -m": cat("nvidia-smi-topo-m.a10-vm.driver550.txt"),
    });
    const d = await new NvidiaGpuInventory({ nvidiaSmiPath: smi, sysfsRoot: sysfs.root }).discover();
    expect(d.gpus.map((g) => g.pciAddress)).toEqual(["0000:00:1e.0"]);
    expect(d.warnings).toEqual([
      `${smi} -q -x failed (exit code 2): Invalid combination of input arguments. Please run nvidia-smi -h for help.; using the text form (${smi} -q) instead`,
    ]);
  });

  it("keeps the GPUs behind a banner printed before the XML, and reports the banner as a warning", async () => {
    const smi = await fakeNvidiaSmi(dir, {
      "-q -x": `echo 'WARNING: infoROM is corrupted at gpu 0000:00:1E.0'; ${cat("nvidia-smi-q-x.a10-vm.driver550.v12.xml")}`,
      "-L": "echo 'GPU 0: NVIDIA A10 (UUID: GPU-a4c19e27-60f3-8d5b-2e7a-f0b9c6d3184e)'",
      "topo -m": cat("nvidia-smi-topo-m.a10-vm.driver550.txt"),
    });
    const d = await new NvidiaGpuInventory({ nvidiaSmiPath: smi, sysfsRoot: sysfs.root }).discover();
    expect(d.gpus.map((g) => [g.pciAddress, g.model])).toEqual([["0000:00:1e.0", "NVIDIA A10"]]);
    expect(d.warnings).toEqual(["nvidia-smi -q -x: ignored 1 line(s) printed before the XML: WARNING: infoROM is corrupted at gpu 0000:00:1E.0"]);
  });

  it("keeps the vGPU types of a vgpu -s -v listing with an unexpected line, and reports that line", async () => {
    await buildH100VgpuHostSysfs(sysfs);
    await writeFile(join(dir, "vgpu-s.txt"), `${readGpuSample("nvidia-smi-vgpu-s-v.h100-pcie-x2-vgpu-host.driver580.txt")}\nvGPU scheduler: best effort\n`);
    const smi = await fakeNvidiaSmi(dir, {
      "-q -x": cat("nvidia-smi-q-x.h100-pcie-x2-vgpu-host.driver580.v13.xml"),
      "-L": "echo 'GPU 0: NVIDIA H100 PCIe (UUID: GPU-c2e8a017-5b94-4d36-8f1c-7a0e93d6b25f)'; echo 'GPU 1: NVIDIA H100 PCIe (UUID: GPU-d93f6b28-1c07-47e5-a2b9-3e8d14f0c6a7)'; echo 'MIG devices: none'",
      "topo -m": "printf '\tGPU0\tGPU1\tCPU Affinity\tNUMA Affinity\nGPU0\t X \tSYS\t0-31\t0\nGPU1\tSYS\t X \t32-63\t1\n'",
      "vgpu -s -v": `cat '${join(dir, "vgpu-s.txt")}'`,
    });
    const d = await new NvidiaGpuInventory({ nvidiaSmiPath: smi, sysfsRoot: sysfs.root }).discover();
    expect(d.warnings).toEqual([
      "nvidia-smi -L: line not understood, skipped: MIG devices: none",
      "nvidia-smi vgpu -s -v: line not understood, skipped: vGPU scheduler: best effort",
    ]);
    expect(d.gpus.map((g) => g.vgpuTypes.length)).toEqual([6, 6]);
    expect(d.gpus[1]!.vgpuTypes.find((t) => t.name === "NVIDIA H100-80C")).toMatchObject({ availableInstances: 2, maxInstances: 1 });
  });

  it("turns a hanging nvidia-smi into a timeout warning", async () => {
    const smi = await fakeNvidiaSmi(dir, { "-q -x": "exec sleep 30" });
    const d = await new NvidiaGpuInventory({ nvidiaSmiPath: smi, sysfsRoot: sysfs.root, timeoutMs: 300 }).discover();
    expect(d.gpus).toEqual([]);
    expect(d.warnings).toEqual([`${smi} -q -x timed out after 300 ms`]);
  });

  it("merges -q -x and topo -m; a failing -L is only a warning (V100 x8 VM)", async () => {
    const smi = await fakeNvidiaSmi(dir, {
      "-q -x": cat("nvidia-smi-q-x.v100-sxm2-32gb-x8-vm.driver470.v11.xml"),
      "-L": "echo 'Failed to initialize NVML: Unknown Error'; exit 255",
      "topo -m": cat("nvidia-smi-topo-m.v100-sxm2-32gb-x8-vm.driver470.txt"),
    });
    const d = await new NvidiaGpuInventory({ nvidiaSmiPath: smi, sysfsRoot: sysfs.root }).discover();
    expect(d.warnings).toEqual([`${smi} -L failed (exit code 255): Failed to initialize NVML: Unknown Error`]);
    expect(d.gpus).toHaveLength(8);
    const g0 = d.gpus[0]!;
    expect(g0).toMatchObject({
      pciAddress: "0000:00:16.0", uuid: "GPU-0b6f2c3e-8a41-5d97-1e2f-6c3b9a0d4e71", model: "Tesla V100-SXM2-32GB",
      memoryMib: 32510, numaNode: 0, cpuAffinity: "0-31", virtualizationMode: "passthrough", driverVersion: "470.256.02",
      migEnabled: false, migDevices: [], vgpuTypes: [],
    });
    expect(g0.nvlinkPeers).toEqual(["0000:00:17.0", "0000:00:18.0", "0000:00:19.0", "0000:00:1a.0"]);
    expect(d.gpus[7]!.numaNode).toBe(1);
  });

  it("on a vGPU host: NUMA nodes from sysfs when topo -m is unreadable, creatable types from the VFs, limits from vgpu -s -v", async () => {
    await buildH100VgpuHostSysfs(sysfs);
    const smi = await fakeNvidiaSmi(dir, {
      "-q -x": cat("nvidia-smi-q-x.h100-pcie-x2-vgpu-host.driver580.v13.xml"),
      "-L": "echo 'GPU 0: NVIDIA H100 PCIe (UUID: GPU-c2e8a017-5b94-4d36-8f1c-7a0e93d6b25f)'; echo 'GPU 1: NVIDIA H100 PCIe (UUID: GPU-d93f6b28-1c07-47e5-a2b9-3e8d14f0c6a7)'",
      "topo -m": "echo garbage; exit 0",
      "vgpu -s -v": cat("nvidia-smi-vgpu-s-v.h100-pcie-x2-vgpu-host.driver580.txt"),
    });
    const d = await new NvidiaGpuInventory({ nvidiaSmiPath: smi, sysfsRoot: sysfs.root }).discover();
    expect(d.warnings).toHaveLength(1);
    expect(d.warnings[0]).toMatch(/topo -m: output not understood .*; ignored/);
    expect(d.gpus.map((g) => [g.pciAddress, g.numaNode, g.virtualizationMode])).toEqual([["0000:2a:00.0", 0, "vgpu_host"], ["0000:ab:00.0", 1, "vgpu_host"]]);
    const avail = (i: number) => d.gpus[i]!.vgpuTypes.map((t) => [t.name, t.availableInstances, t.maxInstances, t.framebufferMib]);
    // GPU 0 runs an H100-10C on one VF: its two free VFs can only take more of that size.
    expect(avail(0)).toEqual([
      ["NVIDIA H100-1-10C", 0, 7, 10240], ["NVIDIA H100-3-40C", 0, 2, 40960], ["NVIDIA H100-4C", 0, 20, 4096],
      ["NVIDIA H100-10C", 2, 8, 10240], ["NVIDIA H100-40C", 0, 2, 40960], ["NVIDIA H100-80C", 0, 1, 81920],
    ]);
    expect(avail(1)).toEqual([
      ["NVIDIA H100-1-10C", 0, 7, 10240], ["NVIDIA H100-3-40C", 0, 2, 40960], ["NVIDIA H100-4C", 2, 20, 4096],
      ["NVIDIA H100-10C", 2, 8, 10240], ["NVIDIA H100-40C", 2, 2, 40960], ["NVIDIA H100-80C", 2, 1, 81920],
    ]);
  });

  it("reads mdev types with their descriptions on an mdev-framework vGPU host", async () => {
    await sysfs.addPciDevice("0000:3b:00.0", { numaNode: 0 });
    await sysfs.addMdevParent("0000:3b:00.4", [
      { typeId: "nvidia-560", name: "NVIDIA A40-4Q", availableInstances: 1, description: "num_heads=4, frl_config=60, framebuffer=4096M, max_resolution=7680x4320, max_instance=12" },
    ], { physfn: "0000:3b:00.0" });
    const smi = await fakeNvidiaSmi(dir, {
      "-q -x": "echo '<nvidia_smi_log><driver_version>535.216.01</driver_version><gpu id=\"00000000:3B:00.0\"><product_name>NVIDIA A40</product_name></gpu></nvidia_smi_log>'",
      "-L": "echo 'GPU 0: NVIDIA A40 (UUID: GPU-0e5d1a7c-2b48-4f96-a3c0-7d9e81f2b654)'",
      "topo -m": "printf '\tGPU0\tCPU Affinity\tNUMA Affinity\nGPU0\t X \t0-23\tN/A\n'",
      "vgpu -s -v": "echo 'No supported devices in vGPU mode'; exit 6",
    });
    const d = await new NvidiaGpuInventory({ nvidiaSmiPath: smi, sysfsRoot: sysfs.root }).discover();
    expect(d.warnings).toEqual([`${smi} vgpu -s -v failed (exit code 6): No supported devices in vGPU mode`]);
    expect(d.gpus[0]!.numaNode).toBe(0);
    expect(d.gpus[0]!.vgpuTypes).toEqual([
      { typeId: "nvidia-560", name: "NVIDIA A40-4Q", availableInstances: 1, maxInstances: 12, framebufferMib: 4096, description: "num_heads=4, frl_config=60, framebuffer=4096M, max_resolution=7680x4320, max_instance=12" },
    ]);
  });

  it("reports at most 32 warnings, the manager's limit, however many problems discovery met", async () => {
    await sysfs.addPciDevice("0000:3b:00.0", { numaNode: 0 });
    const types = Array.from({ length: 40 }, (_, i) => ({ typeId: `nvidia-${500 + i}`, name: `NVIDIA A40-${i}Q`, availableInstances: 1 }));
    await sysfs.addMdevParent("0000:3b:00.4", types, { physfn: "0000:3b:00.0" });
    for (const t of types) {
      await writeFile(join(sysfs.devicePath("0000:3b:00.4"), "mdev_supported_types", t.typeId, "available_instances"), "garbage\n");
    }
    const smi = await fakeNvidiaSmi(dir, {
      "-q -x": "echo '<nvidia_smi_log><driver_version>535.216.01</driver_version><gpu id=\"00000000:3B:00.0\"><product_name>NVIDIA A40</product_name></gpu></nvidia_smi_log>'",
      "-L": "echo 'GPU 0: NVIDIA A40 (UUID: GPU-0e5d1a7c-2b48-4f96-a3c0-7d9e81f2b654)'",
      "topo -m": "printf '\tGPU0\tCPU Affinity\tNUMA Affinity\nGPU0\t X \t0-23\t0\n'",
      "vgpu -s -v": "echo 'No supported devices in vGPU mode'; exit 6",
    });
    const d = await new NvidiaGpuInventory({ nvidiaSmiPath: smi, sysfsRoot: sysfs.root }).discover();
    expect(d.gpus).toHaveLength(1);
    expect(d.warnings).toHaveLength(32);
    expect(d.warnings[0]).toMatch(/mdev_supported_types\/nvidia-500\/available_instances: not a number, type skipped$/);
    expect(d.warnings[31]).toBe("9 more GPU discovery warning(s) not shown");
  });

  it("reports an empty GPU list without calling the other commands when -q -x lists none", async () => {
    const smi = await fakeNvidiaSmi(dir, { "-q -x": "echo '<nvidia_smi_log><attached_gpus>0</attached_gpus></nvidia_smi_log>'" });
    expect(await new NvidiaGpuInventory({ nvidiaSmiPath: smi, sysfsRoot: sysfs.root }).discover()).toEqual({ gpus: [], warnings: [] });
  });
});
