import type { Filter, FilterCheck, PlacementContext } from "../plugin.js";

/** Free memory: (total − host reserve) × over-provisioning factor − allocated, in MiB. */
export class MemoryCapacityFilter implements Filter {
  static readonly NAME = "memory-capacity";
  readonly name = MemoryCapacityFilter.NAME;
  readonly static = false;

  prepare({ request }: PlacementContext): FilterCheck {
    const need = request.memoryMib;
    return {
      test: (h) => h.memCapacity - h.memUsed >= need,
      explain: (h) => ({
        code: "memory_capacity",
        reason: `needs ${need} MiB, ${Math.floor(h.memCapacity - h.memUsed)} of ${Math.floor(h.memCapacity)} MiB free`,
        unresolvable: h.memCapacity < need,
      }),
    };
  }
}
