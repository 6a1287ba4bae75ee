// What an internal qcow2 snapshot costs its disks' storage, as the storage pool counts it: the
// bytes the disk files grew by while it was made. `qemu-img info -U` reports each file's
// allocated bytes (`actual-size`, the file's st_blocks); the create adds the vmstate (a running
// domain's saved memory and device state), a copy of each disk's L1 table, the snapshot table
// entry and refcount updates, and nothing else: data clusters are shared with the live disk, and
// those that diverge later (copy-on-write when the guest overwrites them) are the disk's own
// growth. A running guest writing meanwhile adds its writes too: they are disk growth all the same.
// A file reusing clusters freed by an earlier snapshot's delete may grow by less than the vmstate
// it now holds: the caller counts at least the vmstate (snapshotCreatedBytes).

/** `qemu-img info --output=json` of one image: its allocated bytes on the host (0 when absent). */
export function parseQemuImgActualSize(json: string): number {
  const info = JSON.parse(json) as { "actual-size"?: number };
  return Number(info["actual-size"] ?? 0);
}

/** Each disk file's allocated bytes, by path; a file qemu-img cannot read counts 0. */
export async function allocatedBytes(qemuImgInfo: (path: string) => Promise<string>, paths: readonly string[]): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const p of paths) out.set(p, await qemuImgInfo(p).then(parseQemuImgActualSize, () => 0));
  return out;
}

/**
 * PURE: what the snapshot's create added to the disks: the growth of each file (none shrinks from
 * a create; a smaller figure counts 0), summed, and never less than the vmstate it holds.
 */
export function snapshotCreatedBytes(before: ReadonlyMap<string, number>, after: ReadonlyMap<string, number>, vmStateBytes: number): number {
  let grown = 0;
  for (const [path, bytes] of after) grown += Math.max(0, bytes - (before.get(path) ?? 0));
  return Math.max(grown, vmStateBytes);
}
