// Flavors and images a fresh install starts with (Hyperstack-style names). Admin APIs to manage
// the catalogue come with the user-API issue; these make a first deploy possible. The flavors are
// in the "default" region (the column's default) until regions are a table; the images are in
// every region (region_name "", see image-access.ts).
import type { Db } from "../db/database.js";
import { flavors, images } from "../db/schema.js";
import { EVERY_REGION } from "./image-access.js";

const GIB = 1024;

// KubeVirt's CPU instance-type series: s1 (shared, 1 vCPU : 2 GiB), u1 (universal, 1 : 4) and m1
// (memory, 1 : 8), small to 2xlarge doubling the vCPUs.
const SERIES = [["s1", 2], ["u1", 4], ["m1", 8]] as const;
const SIZES = [["small", 1], ["medium", 2], ["large", 4], ["xlarge", 8], ["2xlarge", 16]] as const;
export const INSTANCE_TYPE_FLAVORS = SERIES.flatMap(([series, gibPerVcpu]) =>
  SIZES.map(([size, vcpus]) => ({ name: `${series}.${size}`, vcpus, memoryMib: vcpus * gibPerVcpu * GIB, diskGib: 20 })));

// Hyperstack's flavor feature the spec names (network_optimised), on the GPU flavors: Orbit has
// no network-optimised fabric. Admins change features through /v1/admin/flavors.
const GPU_FEATURES = { features: { network_optimised: false } };

export const DEFAULT_FLAVORS = [
  { name: "n1-cpu-small", vcpus: 2, memoryMib: 4 * GIB, diskGib: 20 },
  { name: "n1-cpu-medium", vcpus: 4, memoryMib: 16 * GIB, diskGib: 50 },
  { name: "n1-cpu-large", vcpus: 16, memoryMib: 64 * GIB, diskGib: 100 },
  { name: "n3-H100x1", vcpus: 28, memoryMib: 180 * GIB, diskGib: 100, gpuModel: "NVIDIA H100 80GB HBM3", gpuCount: 1, ...GPU_FEATURES },
  { name: "n3-H100x2", vcpus: 60, memoryMib: 360 * GIB, diskGib: 200, gpuModel: "NVIDIA H100 80GB HBM3", gpuCount: 2, ...GPU_FEATURES },
  { name: "n3-H100x4", vcpus: 124, memoryMib: 720 * GIB, diskGib: 400, gpuModel: "NVIDIA H100 80GB HBM3", gpuCount: 4, ...GPU_FEATURES },
  { name: "n3-H100x8", vcpus: 252, memoryMib: 1440 * GIB, diskGib: 800, gpuModel: "NVIDIA H100 80GB HBM3", gpuCount: 8, ...GPU_FEATURES },
  { name: "n3-L40Sx1", vcpus: 16, memoryMib: 96 * GIB, diskGib: 100, gpuModel: "NVIDIA L40S", gpuCount: 1, ...GPU_FEATURES },
  { name: "n3-L40S-12Q", vcpus: 4, memoryMib: 24 * GIB, diskGib: 50, gpuModel: "NVIDIA L40S", vgpuType: "NVIDIA L40S-12Q", ...GPU_FEATURES },
  { name: "n3-L40S-24Q", vcpus: 8, memoryMib: 48 * GIB, diskGib: 100, gpuModel: "NVIDIA L40S", vgpuType: "NVIDIA L40S-24Q", ...GPU_FEATURES },
  // A tiny flavor for test guests (libvirt driver tests boot a 128 MiB busybox guest).
  { name: "t1-tiny", vcpus: 1, memoryMib: 128, diskGib: 0 },
  ...INSTANCE_TYPE_FLAVORS,
];

export const DEFAULT_IMAGES = [
  { name: "Ubuntu Server 22.04 LTS", osType: "linux", version: "22.04", description: "Ubuntu Server 22.04 LTS (Jammy Jellyfish)" },
  { name: "Ubuntu Server 24.04 LTS", osType: "linux", version: "24.04", description: "Ubuntu Server 24.04 LTS (Noble Numbat)" },
  { name: "Debian 12", osType: "linux", version: "12", description: "Debian 12 (bookworm)" },
  { name: "Windows Server 2022", osType: "windows", version: "2022", description: "Windows Server 2022" },
];

export async function seedCatalog(db: Db): Promise<void> {
  await db.insert(flavors).values(DEFAULT_FLAVORS).onConflictDoNothing();
  await db.insert(images).values(DEFAULT_IMAGES.map((i) => ({ ...i, regionName: EVERY_REGION }))).onConflictDoNothing();
}
