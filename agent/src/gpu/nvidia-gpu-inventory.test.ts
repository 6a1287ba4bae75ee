import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { chmod, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FakeSysfs } from "./fake-sysfs.js";
import { NvidiaGpuInventory } from "./nvidia-gpu-inventory.js";
import { gpuFixturePath } from "./test-fixtures.js";

/** A fake nvidia-smi: for each argument string, a shell snippet to run. */
async function fakeNvidiaSmi(dir: string, cases: Record<string, string>): Promise<string> {
  const path = join(dir, "nvidia-smi");
  const arms = Object.entries(cases).map(([args, body]) => `  "${args}") ${body} ;;`).join("\n");
  await writeFile(path, `#!/bin/sh\ncase "$*" in\n${arms}\n  *) echo "fake nvidia-smi: unexpected arguments: $*" >&2; exit 2 ;;\nesac\n`);
  await chmod(path, 0o755);
  return path;
}

const cat = (fixture: string) => `cat '${gpuFixturePath(fixture)}'`;
const V100_XML = "nvidia-smi-q-x.v100s-pcie-32gb-x8-passthrough.driver460.v11.xml";

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

  it("turns garbage output into a warning", async () => {
    const smi = await fakeNvidiaSmi(dir, { "-q -x": "echo 'Segmentation fault (core dumped) <<<'" });
    const d = await new NvidiaGpuInventory({ nvidiaSmiPath: smi, sysfsRoot: sysfs.root }).discover();
    expect(d.gpus).toEqual([]);
    expect(d.warnings).toHaveLength(1);
    expect(d.warnings[0]).toMatch(/-q -x: output not understood, no GPUs reported/);
  });

  it("turns a hanging nvidia-smi into a timeout warning", async () => {
    const smi = await fakeNvidiaSmi(dir, { "-q -x": "exec sleep 30" });
    const d = await new NvidiaGpuInventory({ nvidiaSmiPath: smi, sysfsRoot: sysfs.root, timeoutMs: 300 }).discover();
    expect(d.gpus).toEqual([]);
    expect(d.warnings).toEqual([`${smi} -q -x timed out after 300 ms`]);
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

  it("reports an empty GPU list without calling the other commands when -q -x lists none", async () => {
    const smi = await fakeNvidiaSmi(dir, { "-q -x": "echo '<nvidia_smi_log><attached_gpus>0</attached_gpus></nvidia_smi_log>'" });
    expect(await new NvidiaGpuInventory({ nvidiaSmiPath: smi, sysfsRoot: sysfs.root }).discover()).toEqual({ gpus: [], warnings: [] });
  });
});
