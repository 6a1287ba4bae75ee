import * as prng from "../prng.js";
import type { PlacementContext, ScoreFunction, Scorer } from "../plugin.js";

// Module-local: an imported binding read per host is a getter call under tsx.
const hashUnit = prng.hashUnit;

/** CloudStack's `random`: a seeded draw per (request seed, VM, host), reproducible for a seed. */
export class RandomScorer implements Scorer {
  static readonly NAME = "random";
  readonly name = RandomScorer.NAME;
  readonly kind = "dynamic" as const;

  prepare({ seed, vmIndex }: PlacementContext): ScoreFunction {
    return { score: (h) => hashUnit(seed, vmIndex, h.index), cheap: true };
  }
}
