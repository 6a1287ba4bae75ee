// PURE: `virsh nodememstats` ("free   :  23172416 KiB") -> free memory.

/** Memory the host can give to new guests: free plus reclaimable page cache and buffers. */
export function parseNodeMemStatsFreeKib(text: string): number {
  const v = new Map<string, number>();
  for (const m of text.matchAll(/^\s*(\w+)\s*:\s*(\d+)\s*KiB/gm)) v.set(m[1]!, Number(m[2]));
  const free = v.get("free");
  if (free === undefined) throw new Error("virsh nodememstats: no 'free' line");
  return free + (v.get("buffers") ?? 0) + (v.get("cached") ?? 0);
}
