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
