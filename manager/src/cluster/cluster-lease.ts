// A named lease shared by the managers on one database (the `leases` table): at most one manager
// instance holds it until its expiry, renews it while it wants it, and gives it up when it stops.
// Works the same on PGlite, where the one process is always the holder.
import { and, eq, lte, or } from "drizzle-orm";
import type { Db } from "../db/database.js";
import { leases } from "../db/schema.js";

export interface ClusterLeaseOptions {
  db: Db;
  /** The lease's name (one per duty: duties.ts). */
  name: string;
  /** This manager instance's id. */
  holder: string;
  ttlMs: number;
  /** The clock (ms) expiries are computed with; tests pass a fake one. */
  now?: () => number;
}

export class ClusterLease {
  private readonly now: () => number;

  constructor(private readonly o: ClusterLeaseOptions) {
    this.now = o.now ?? Date.now;
  }

  get name(): string {
    return this.o.name;
  }

  /**
   * Takes the lease when it is free (never taken, expired, released) or renews it when this
   * instance holds it; true when this instance holds it now. One statement: two managers trying at
   * once serialize on the row (or on the primary key for the first insert), one of them wins.
   */
  async acquire(): Promise<boolean> {
    const now = new Date(this.now());
    const expiresAt = new Date(now.getTime() + this.o.ttlMs);
    const rows = await this.o.db.insert(leases).values({ name: this.o.name, holder: this.o.holder, expiresAt })
      .onConflictDoUpdate({
        target: leases.name,
        set: { holder: this.o.holder, expiresAt },
        setWhere: or(eq(leases.holder, this.o.holder), lte(leases.expiresAt, now)),
      })
      .returning({ holder: leases.holder });
    return rows.length === 1;
  }

  /** Renews the lease; false when this instance no longer holds it (it expired and another took it). */
  async renew(): Promise<boolean> {
    const rows = await this.o.db.update(leases).set({ expiresAt: new Date(this.now() + this.o.ttlMs) })
      .where(and(eq(leases.name, this.o.name), eq(leases.holder, this.o.holder)))
      .returning({ name: leases.name });
    return rows.length === 1;
  }

  /** Gives the lease up at once (a graceful stop): another manager takes it at its next try. */
  async release(): Promise<void> {
    await this.o.db.update(leases).set({ expiresAt: new Date(0) })
      .where(and(eq(leases.name, this.o.name), eq(leases.holder, this.o.holder)));
  }

  /** Who holds the lease now (undefined: nobody, or it expired). */
  async holder(): Promise<string | undefined> {
    const [row] = await this.o.db.select().from(leases).where(eq(leases.name, this.o.name));
    return row && row.expiresAt.getTime() > this.now() ? row.holder : undefined;
  }
}
