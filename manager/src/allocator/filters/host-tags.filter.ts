import type { Filter, FilterCheck, PlacementContext } from "../plugin.js";
import type { PlacementRequest } from "../types.js";

/**
 * A flavor's host tags must all be on the host. When an admin names the host (`hostId`),
 * CloudStack's `vm.strict.host.tags` applies: only the tags in that list (or all, with the
 * request's `strictHostTags`) are enforced.
 */
export class HostTagsFilter implements Filter {
  static readonly NAME = "host-tags";
  readonly name = HostTagsFilter.NAME;
  readonly static = true;

  staticKey(r: PlacementRequest): string {
    return `${(r.hostTags ?? []).join(",")}|${r.hostId === undefined ? "" : "h"}|${r.strictHostTags ? "s" : ""}`;
  }

  prepare({ request: r, config }: PlacementContext): FilterCheck | null {
    let required = r.hostTags ?? [];
    if (r.hostId !== undefined && !r.strictHostTags) required = required.filter((t) => config.strictHostTags.includes(t));
    if (required.length === 0) return null;
    const missing = (tags: readonly string[]): string[] => required.filter((t) => !tags.includes(t));
    return {
      test: (h) => {
        const tags = h.src.tags;
        for (const t of required) if (!tags.includes(t)) return false;
        return true;
      },
      explain: (h) => ({ code: "host_tags", reason: `lacks host tag ${missing(h.src.tags).join(", ")}`, unresolvable: true }),
    };
  }
}
