import type { PlacementContext, ScoreFunction, Scorer } from "../plugin.js";

/** CloudStack's `userdispersing`: hosts with the fewest VMs of the requesting account first. */
export class UserDispersingScorer implements Scorer {
  static readonly NAME = "userdispersing";
  readonly name = UserDispersingScorer.NAME;
  readonly kind = "dynamic" as const;

  prepare({ request }: PlacementContext): ScoreFunction {
    const account = request.accountId;
    return { score: (h) => 1 / (1 + (h.accountVms.get(account) ?? 0)) };
  }
}
