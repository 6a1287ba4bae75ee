import type { Filter, FilterCheck, PlacementContext } from "../plugin.js";
import type { PlacementRequest } from "../types.js";

/** The hypervisor the image/flavor needs (case-insensitive: "KVM" = "kvm"). */
export class HypervisorFilter implements Filter {
  static readonly NAME = "hypervisor";
  readonly name = HypervisorFilter.NAME;
  readonly static = true;

  staticKey(r: PlacementRequest): string {
    return (r.hypervisor ?? "").toLowerCase();
  }

  prepare({ request }: PlacementContext): FilterCheck | null {
    if (request.hypervisor === undefined || request.hypervisor === "") return null;
    const want = request.hypervisor.toLowerCase();
    return {
      test: (h) => h.src.hypervisor === request.hypervisor || h.src.hypervisor.toLowerCase() === want,
      explain: (h) => ({ code: "hypervisor_mismatch", reason: `hypervisor ${h.src.hypervisor}, needs ${request.hypervisor}`, unresolvable: true }),
    };
  }
}
