// The real-libvirt tier's guest (kernel + busybox initrd, boots in seconds under TCG), built by
// this directory's build-test-guest.sh into a cache directory and reused by later runs. The cache
// is keyed by the script's content, so a changed script builds a new guest.
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { execa } from "execa";
import type { DirectBoot, VmSpec } from "#shared/protocol.js";

const BUILD_SCRIPT = fileURLToPath(new URL("./build-test-guest.sh", import.meta.url));

export interface TestGuest {
  kernel: string;
  initrd: string;
}

export async function ensureTestGuest(cacheRoot = process.env.ORBIT_TEST_GUEST_DIR ?? "/tmp/orbit-test-guest"): Promise<TestGuest> {
  const version = createHash("sha256").update(readFileSync(BUILD_SCRIPT)).digest("hex").slice(0, 12);
  const dir = join(cacheRoot, version);
  const guest = { kernel: join(dir, "vmlinuz"), initrd: join(dir, "initrd.gz") };
  if (existsSync(guest.kernel) && existsSync(guest.initrd)) return guest;
  // Built aside and renamed into place: a concurrent run never sees half a guest.
  const tmp = `${dir}.build-${process.pid}`;
  try {
    const r = await execa("bash", [BUILD_SCRIPT, tmp], { timeout: 300_000, reject: false, all: true });
    if (r.failed) throw new Error(`building the test guest failed (bash ${BUILD_SCRIPT}): ${r.all ?? r.shortMessage}`);
    mkdirSync(dir, { recursive: true });
    renameSync(join(tmp, "initrd.gz"), guest.initrd);
    renameSync(join(tmp, "vmlinuz"), guest.kernel);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  return guest;
}

/** How a VM boots: the test guest's kernel (the default), or undefined to keep the driver's boot (an ISO's). */
export type GuestBoot = (spec: VmSpec, guest: TestGuest) => DirectBoot | undefined;

export const kernelBoot: GuestBoot = (_spec, guest) => ({ kernel: guest.kernel, initrd: guest.initrd, cmdline: "console=ttyS0 quiet panic=-1" });
