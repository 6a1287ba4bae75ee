// account_usage_deltas gains a row for every change of an account's usage (triggers, migration
// 0046). A limit check folds its account's rows into one (account-limits.ts), but an account with
// no limit is never checked: its rows would pile up, about four per VM's life. This duty folds the
// rows of every account holding more than `threshold`, each account in its own short transaction
// under the account lock the limit check takes; an account whose lock is held (a check folding it
// right now) is skipped until the next round.
import { sql } from "drizzle-orm";
import type { Logger } from "pino";
import type { Db } from "../db/database.js";
import { foldedUsage } from "./account-limits.js";

export interface AccountUsageCompactionOptions {
  db: Db;
  log: Pick<Logger, "info" | "warn">;
  /** How often a round runs (default a minute). */
  everyMs?: number;
  /** An account is folded once it holds more rows than this (default 32). */
  threshold?: number;
  /** Accounts folded per round at most (default 200): a backlog is worked off over rounds. */
  accountsPerRound?: number;
  /** Told when a round failed; returns true when it logs the failure itself (database outage). */
  reportError?: (e: unknown) => boolean;
}

export class AccountUsageCompaction {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<unknown> = Promise.resolve();

  constructor(private readonly o: AccountUsageCompactionOptions) {}

  /** One round: the accounts folded and the rows they held before. */
  async runOnce(): Promise<{ accounts: number; rowsBefore: number }> {
    const { db } = this.o;
    const crowded = (await db.execute(sql`
      select account_id, count(*)::int as n from account_usage_deltas
      group by account_id having count(*) > ${this.o.threshold ?? 32}
      order by account_id limit ${this.o.accountsPerRound ?? 200}`)) as unknown as { rows: { account_id: number; n: number }[] };
    let accounts = 0;
    let rowsBefore = 0;
    for (const { account_id: accountId, n } of crowded.rows) {
      const folded = await db.transaction(async (tx) => {
        const locked = (await tx.execute(sql`select id from accounts where id = ${accountId} for update skip locked`)) as unknown as { rows: unknown[] };
        // Its lock held by a limit check (which folds it) or the account row gone: nothing to do now.
        if (locked.rows.length === 0) return false;
        await foldedUsage(tx, [Number(accountId)]);
        return true;
      });
      if (folded) {
        accounts++;
        rowsBefore += Number(n);
      }
    }
    return { accounts, rowsBefore };
  }

  start(): void {
    this.timer = setInterval(() => {
      this.running = this.runOnce()
        .then((r) => { if (r.accounts) this.o.log.info(r, "folded accounts' usage rows"); })
        .catch((e: unknown) => {
          if (!this.o.reportError?.(e)) this.o.log.warn({ err: e }, "folding accounts' usage rows failed; trying again later");
        });
    }, this.o.everyMs ?? 60_000);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
  }
}
