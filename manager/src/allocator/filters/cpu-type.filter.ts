import type { Filter, FilterCheck, PlacementContext } from "../plugin.js";
import type { PlacementRequest } from "../types.js";

/** CloudSigma's cpu_type: the host's CPU type (vendor/family, e.g. "amd", "intel") must match. */
export class CpuTypeFilter implements Filter {
  static readonly NAME = "cpu-type";
  readonly name = CpuTypeFilter.NAME;
  readonly static = true;

  staticKey(r: PlacementRequest): string {
    return (r.cpuType ?? "").toLowerCase();
  }

  prepare({ request }: PlacementContext): FilterCheck | null {
    if (request.cpuType === undefined || request.cpuType === "") return null;
    const want = request.cpuType.toLowerCase();
    return {
      test: (h) => h.src.cpuType === request.cpuType || (h.src.cpuType ?? "").toLowerCase() === want,
      explain: (h) => ({
        code: "cpu_type_mismatch",
        reason: `cpu type ${h.src.cpuType ?? "unknown"}, needs ${request.cpuType}`,
        unresolvable: true,
      }),
    };
  }
}
