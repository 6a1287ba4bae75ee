// GPUs of a host: nvidia-smi + sysfs on a real host, a fixed list in the simulator and tests.
import type { Gpu } from "#shared/protocol.js";

export type { Gpu };

export interface GpuDiscovery {
  gpus: Gpu[];
  /** Problems met (nvidia-smi failing, unparsable output...); the host still reports CPU capacity. */
  warnings: string[];
}

export interface GpuInventory {
  discover(): Promise<GpuDiscovery>;
}

/** A fixed list: the simulator's GPUs, or none. */
export class StaticGpuInventory implements GpuInventory {
  constructor(private readonly gpus: Gpu[] = []) {}
  async discover(): Promise<GpuDiscovery> {
    return { gpus: this.gpus.map((g) => ({ ...g })), warnings: [] };
  }
}

/** The manager refuses host facts with more than 32 discovery warnings or one over 4096
 *  characters (manager/src/agents/protocol-limits.ts): a flood of GPU trouble must not cost the
 *  host its registration. Stay well inside both. */
const MAX_WARNINGS = 32;
const MAX_WARNING_CHARS = 1000;

/** Deduplicated, each cut to a bounded length, at most MAX_WARNINGS with the last saying how many
 *  were left out. */
export function boundDiscoveryWarnings(warnings: string[]): string[] {
  const cut = [...new Set(warnings)].map((w) => (w.length > MAX_WARNING_CHARS ? `${w.slice(0, MAX_WARNING_CHARS - 3)}...` : w));
  if (cut.length <= MAX_WARNINGS) return cut;
  return [...cut.slice(0, MAX_WARNINGS - 1), `${cut.length - (MAX_WARNINGS - 1)} more GPU discovery warning(s) not shown`];
}
