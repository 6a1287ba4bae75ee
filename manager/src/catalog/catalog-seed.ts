// Flavors and images a fresh install starts with (Hyperstack-style names). Admin APIs to manage
// the catalogue come with the user-API issue; these make a first deploy possible.
import type { Db } from "../db/database.js";
import { flavors, images } from "../db/schema.js";

const GIB = 1024;

export const DEFAULT_FLAVORS = [
  { name: "n1-cpu-small", vcpus: 2, memoryMib: 4 * GIB, diskGib: 20 },
  { name: "n1-cpu-medium", vcpus: 4, memoryMib: 16 * GIB, diskGib: 50 },
  { name: "n1-cpu-large", vcpus: 16, memoryMib: 64 * GIB, diskGib: 100 },
  { name: "n3-H100x1", vcpus: 28, memoryMib: 180 * GIB, diskGib: 100, gpuModel: "NVIDIA H100 80GB HBM3", gpuCount: 1 },
  { name: "n3-H100x2", vcpus: 60, memoryMib: 360 * GIB, diskGib: 200, gpuModel: "NVIDIA H100 80GB HBM3", gpuCount: 2 },
  { name: "n3-H100x4", vcpus: 124, memoryMib: 720 * GIB, diskGib: 400, gpuModel: "NVIDIA H100 80GB HBM3", gpuCount: 4 },
  { name: "n3-H100x8", vcpus: 252, memoryMib: 1440 * GIB, diskGib: 800, gpuModel: "NVIDIA H100 80GB HBM3", gpuCount: 8 },
  { name: "n3-L40Sx1", vcpus: 16, memoryMib: 96 * GIB, diskGib: 100, gpuModel: "NVIDIA L40S", gpuCount: 1 },
  { name: "n3-L40S-12Q", vcpus: 4, memoryMib: 24 * GIB, diskGib: 50, gpuModel: "NVIDIA L40S", vgpuType: "NVIDIA L40S-12Q" },
  { name: "n3-L40S-24Q", vcpus: 8, memoryMib: 48 * GIB, diskGib: 100, gpuModel: "NVIDIA L40S", vgpuType: "NVIDIA L40S-24Q" },
  // A tiny flavor for test guests (libvirt driver tests boot a 128 MiB busybox guest).
  { name: "t1-tiny", vcpus: 1, memoryMib: 128, diskGib: 0 },
];

export const DEFAULT_IMAGES = [
  { name: "Ubuntu Server 22.04 LTS", osType: "linux" },
  { name: "Ubuntu Server 24.04 LTS", osType: "linux" },
  { name: "Debian 12", osType: "linux" },
  { name: "Windows Server 2022", osType: "windows" },
];

export async function seedCatalog(db: Db): Promise<void> {
  await db.insert(flavors).values(DEFAULT_FLAVORS).onConflictDoNothing();
  await db.insert(images).values(DEFAULT_IMAGES).onConflictDoNothing();
}
