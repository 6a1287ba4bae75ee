import type { Filter, FilterCheck, PlacementContext } from "../plugin.js";

/** Free vCPUs: logical CPUs × over-provisioning factor (host, else cluster, else global) − allocated. */
export class CpuCapacityFilter implements Filter {
  static readonly NAME = "cpu-capacity";
  readonly name = CpuCapacityFilter.NAME;
  readonly static = false;

  prepare({ request }: PlacementContext): FilterCheck {
    const need = request.vcpus;
    return {
      test: (h) => h.cpuCapacity - h.cpuUsed >= need,
      explain: (h) => ({
        code: "cpu_capacity",
        reason: `needs ${need} vCPU, ${fmt(h.cpuCapacity - h.cpuUsed)} of ${fmt(h.cpuCapacity)} free`,
        unresolvable: h.cpuCapacity < need,
      }),
    };
  }
}

function fmt(n: number): string {
  return Number.isInteger(n) ? String(n) : n.toFixed(1);
}
