import type { ScoreFunction, Scorer } from "../plugin.js";
import { allocatedShare } from "../allocated-share.js";

/** CloudStack's `firstfitleastconsumed`: least consumed hosts first (stable order breaks ties). */
export class LeastConsumedScorer implements Scorer {
  static readonly NAME = "leastconsumed";
  readonly name = LeastConsumedScorer.NAME;
  readonly kind = "stateful" as const;

  staticKey(): string {
    return "";
  }
  private readonly fn: ScoreFunction = { score: (h) => 1 - allocatedShare(h) };

  prepare(): ScoreFunction {
    return this.fn;
  }
}
