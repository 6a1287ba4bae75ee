// The tiny busybox guest of ../shared/notes/real-libvirt.md (kernel + initrd, boots in seconds
// under TCG), built once into a cache directory and reused by later runs.
import { existsSync, mkdirSync, renameSync, rmSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { execa } from "execa";

const BUILD_SCRIPT = fileURLToPath(new URL("../../../shared/notes/real-libvirt/build-test-guest.sh", import.meta.url));

export interface TestGuest {
  kernel: string;
  initrd: string;
}

export async function ensureTestGuest(cacheDir = process.env.ORBIT_TEST_GUEST_DIR ?? "/tmp/orbit-test-guest"): Promise<TestGuest> {
  const guest = { kernel: `${cacheDir}/vmlinuz`, initrd: `${cacheDir}/initrd.gz` };
  if (existsSync(guest.kernel) && existsSync(guest.initrd)) return guest;
  if (!existsSync(BUILD_SCRIPT)) throw new Error(`test guest builder not found at ${BUILD_SCRIPT}`);
  // Built aside and renamed into place: a concurrent run never sees half a kernel.
  const tmp = `${cacheDir}.build-${process.pid}`;
  try {
    await execa("bash", [BUILD_SCRIPT, tmp], { timeout: 300_000 });
    mkdirSync(cacheDir, { recursive: true });
    renameSync(`${tmp}/initrd.gz`, guest.initrd);
    renameSync(`${tmp}/vmlinuz`, guest.kernel);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  return guest;
}
