import type { Filter, FilterCheck, PlacementContext } from "../plugin.js";
import type { PlacementRequest } from "../types.js";

/** The request's environment (zone), and its pod / cluster / host when it names one. */
export class ScopeFilter implements Filter {
  static readonly NAME = "scope";
  readonly name = ScopeFilter.NAME;
  readonly static = true;

  staticKey(r: PlacementRequest): string {
    return `${r.environment}|${r.pod ?? ""}|${r.cluster ?? ""}|${r.hostId ?? ""}`;
  }

  prepare({ request: r }: PlacementContext): FilterCheck {
    return {
      test: (h) =>
        h.src.environment === r.environment &&
        (r.pod === undefined || h.src.pod === r.pod) &&
        (r.cluster === undefined || h.src.cluster === r.cluster) &&
        (r.hostId === undefined || h.src.id === r.hostId),
      explain: (h) => {
        const reason =
          h.src.environment !== r.environment
            ? `in environment ${h.src.environment}, not ${r.environment}`
            : r.pod !== undefined && h.src.pod !== r.pod
              ? `in pod ${h.src.pod}, not ${r.pod}`
              : r.cluster !== undefined && h.src.cluster !== r.cluster
              ? `in cluster ${h.src.cluster}, not ${r.cluster}`
              : `not the requested host ${r.hostId ?? ""}`;
        return { code: "out_of_scope", reason, unresolvable: true };
      },
    };
  }
}
