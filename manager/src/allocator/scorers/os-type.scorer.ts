import type { PlacementContext, ScoreFunction, Scorer } from "../plugin.js";
import type { PlacementRequest } from "../types.js";

/**
 * CloudStack's guest-OS-category preference: hosts tagged for the image's OS type first, hosts
 * tagged for no OS type next, hosts reserved for other OS types last.
 */
export class OsTypeScorer implements Scorer {
  static readonly NAME = "os-type";
  readonly name = OsTypeScorer.NAME;
  readonly kind = "static" as const;

  staticKey(r: PlacementRequest): string {
    return r.osType ?? "";
  }

  prepare({ request }: PlacementContext): ScoreFunction | null {
    const os = request.osType;
    if (os === undefined || os === "") return null;
    return {
      score: (h) => {
        const types = h.src.osTypes;
        if (types === undefined || types.length === 0) return 0.5;
        return types.includes(os) ? 1 : 0;
      },
    };
  }
}
