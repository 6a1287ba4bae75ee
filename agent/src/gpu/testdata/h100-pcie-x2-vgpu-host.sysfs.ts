// The sysfs of the H100 PCIe vGPU host whose nvidia-smi outputs sit beside this file
// (nvidia-smi-q-x.h100-pcie-x2-vgpu-host.*, nvidia-smi-vgpu-s-v.h100-pcie-x2-vgpu-host.*): vendor
// VFIO framework (vGPU 17+), one vGPU per SR-IOV VF. GPU 0000:2a:00.0 (NUMA 0) already runs an
// H100-10C on VF .4, so its free VFs can only create more H100-10C (time-sliced vGPUs on one GPU
// share one size); GPU 0000:ab:00.0 (NUMA 1) is empty. MIG is off on both, so no MIG-backed type
// is creatable.
import type { FakeSysfs } from "../fake-sysfs.js";

export const H100_TYPES = {
  h100_4c: { id: 939, name: "NVIDIA H100-4C" },
  h100_10c: { id: 942, name: "NVIDIA H100-10C" },
  h100_40c: { id: 945, name: "NVIDIA H100-40C" },
  h100_80c: { id: 946, name: "NVIDIA H100-80C" },
} as const;

export async function buildH100VgpuHostSysfs(fs: FakeSysfs): Promise<void> {
  const { h100_4c, h100_10c, h100_40c, h100_80c } = H100_TYPES;
  await fs.addPciDevice("0000:2a:00.0", { numaNode: 0 });
  await fs.addVfioVf("0000:2a:00.4", "0000:2a:00.0", [], h100_10c.id);
  await fs.addVfioVf("0000:2a:00.5", "0000:2a:00.0", [h100_10c]);
  await fs.addVfioVf("0000:2a:00.6", "0000:2a:00.0", [h100_10c]);
  await fs.addPciDevice("0000:ab:00.0", { numaNode: 1 });
  for (const vf of ["0000:ab:00.4", "0000:ab:00.5"]) {
    await fs.addVfioVf(vf, "0000:ab:00.0", [h100_4c, h100_10c, h100_40c, h100_80c]);
  }
}
