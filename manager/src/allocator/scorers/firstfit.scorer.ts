import type { PlacementContext, ScoreFunction, Scorer } from "../plugin.js";

/** CloudStack's `firstfit`: hosts in the snapshot's stable order (the first that fits wins). */
export class FirstFitScorer implements Scorer {
  static readonly NAME = "firstfit";
  readonly name = FirstFitScorer.NAME;
  readonly kind = "static" as const;

  staticKey(): string {
    return "";
  }

  prepare({ hosts }: PlacementContext): ScoreFunction {
    const n = hosts.length;
    return { score: (h) => 1 - h.index / n };
  }
}
