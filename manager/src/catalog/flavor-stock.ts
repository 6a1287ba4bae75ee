// Flavors' stock_available: whether one more VM of each fits now in some environment of the
// flavor's region, read from the placement's cached fleet snapshots (no database read, no
// placement) and remembered per snapshot: a list between two fleet changes costs no host pass.
import { stockAvailable, stockCount, type FleetSnapshot, type StockPolicy, type GpuDemand, type StockShape } from "../allocator/index.js";
import type { Flavor } from "./catalog-service.js";

/** Where the fleet is read from (the placement's snapshot cache) and the policy in force. */
export interface FleetSnapshots {
  snapshot(environment: string): Promise<FleetSnapshot>;
  policy(): StockPolicy;
}

/** The allocator's GPU demand for a flavor (as a VM create asks for it). */
export function flavorGpuDemand(f: Flavor): GpuDemand | undefined {
  const models = f.gpuModel ? [f.gpuModel] : [];
  if (f.vgpuType) return { kind: "vgpu", vgpuType: f.vgpuType, models };
  if (f.gpuShareMilli > 0) return { kind: "share", milli: f.gpuShareMilli, models };
  if (f.gpuCount > 0) return { kind: "passthrough", count: f.gpuCount, models };
  return undefined;
}

export function stockShape(f: Flavor): StockShape {
  const gpu = flavorGpuDemand(f);
  return {
    vcpus: f.vcpus, memoryMib: f.memoryMib, hostTags: f.hostTags,
    ...(f.cpuType ? { cpuType: f.cpuType } : {}), ...(gpu ? { gpu } : {}),
  };
}

interface Remembered { key: string; policy: StockPolicy; inStock: boolean[] }

export class FlavorStock {
  private readonly bySnapshot = new WeakMap<FleetSnapshot, Remembered>();

  constructor(private readonly fleet: FleetSnapshots) {}

  /** Per flavor (same order); `environments` lists each region's environments. */
  async available(list: readonly Flavor[], environments: ReadonlyMap<string, readonly string[]>): Promise<boolean[]> {
    const inStock = list.map(() => false);
    const policy = this.fleet.policy();
    for (const [region, names] of environments) {
      const indices = list.flatMap((f, i) => (f.regionName === region ? [i] : []));
      if (indices.length === 0) continue;
      const shapes = indices.map((i) => stockShape(list[i]!));
      for (const name of names) {
        const here = this.onSnapshot(await this.fleet.snapshot(name), shapes, policy);
        indices.forEach((flavorIndex, j) => { if (here[j]) inStock[flavorIndex] = true; });
      }
    }
    return inStock;
  }

  /** Per flavor (same order), about how many more VMs of it fit now in the region's fleet (an estimate, each flavor alone). */
  async counts(list: readonly Flavor[], region: string): Promise<number[]> {
    if (list.length === 0) return [];
    return stockCount(await this.fleet.snapshot(region), list.map(stockShape), this.fleet.policy());
  }

  /** The policy object is replaced, never changed, when settings change: compared by identity. */
  private onSnapshot(snapshot: FleetSnapshot, shapes: StockShape[], policy: StockPolicy): boolean[] {
    const key = JSON.stringify(shapes);
    const hit = this.bySnapshot.get(snapshot);
    if (hit && hit.key === key && hit.policy === policy) return hit.inStock;
    const inStock = stockAvailable(snapshot, shapes, policy);
    this.bySnapshot.set(snapshot, { key, policy, inStock });
    return inStock;
  }
}
