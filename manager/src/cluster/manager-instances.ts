// The manager instances sharing the database: each start is one instance (a random id, with its
// hostname and pid for humans), recorded in `managers` and heartbeating there every few seconds.
// Its id is the lease owner of the jobs it runs and the holder of the duties it runs; the admin
// API lists the instances with both (GET /v1/admin/managers).
import { randomUUID } from "node:crypto";
import { hostname } from "node:os";
import { and, desc, eq, gt, inArray, isNull, ne, or } from "drizzle-orm";
import type { Logger } from "pino";
import type { Db } from "../db/database.js";
import { jobs, leases, managers } from "../db/schema.js";

export interface ManagerIdentity {
  id: string;
  hostname: string;
  pid: number;
  startedAt: Date;
  version: string;
}

/** This process's identity: made once at start-up. */
export function newManagerIdentity(version: string): ManagerIdentity {
  return { id: randomUUID(), hostname: hostname(), pid: process.pid, startedAt: new Date(), version };
}

/** An instance as GET /v1/admin/managers shows it. */
export interface ManagerInstanceView {
  id: string;
  hostname: string;
  pid: number;
  version: string;
  startedAt: Date;
  lastSeenAt: Date;
  stoppedAt: Date | null;
  /** Heard from within the alive window and not stopped. */
  alive: boolean;
  /** The instance answering the request. */
  self: boolean;
  /** The duties whose lease it holds now (cluster/duties.ts). */
  duties: string[];
  /** The open jobs whose lease it holds now. */
  jobsLeased: number;
}

export interface ManagerInstancesOptions {
  db: Db;
  me: ManagerIdentity;
  /** How often this instance's row is touched (default 5 s). */
  heartbeatMs?: number;
  /** An instance unheard of for longer is not alive (default: three heartbeats). */
  aliveWithinMs?: number;
  /** Stopped or dead instances stay listed this long (default a day). */
  listForMs?: number;
  log: Logger;
  now?: () => number;
}

export class ManagerInstances {
  private timer: NodeJS.Timeout | undefined;
  private readonly now: () => number;
  private readonly heartbeatMs: number;

  constructor(private readonly o: ManagerInstancesOptions) {
    this.now = o.now ?? Date.now;
    this.heartbeatMs = o.heartbeatMs ?? 5000;
  }

  get me(): ManagerIdentity {
    return this.o.me;
  }

  private aliveSince(): Date {
    return new Date(this.now() - (this.o.aliveWithinMs ?? 3 * this.heartbeatMs));
  }

  /** Records this instance and heartbeats its row until stop(). */
  async start(): Promise<void> {
    const { id, hostname: host, pid, startedAt, version } = this.o.me;
    await this.o.db.insert(managers).values({ id, hostname: host, pid, version, startedAt, lastSeenAt: new Date(this.now()) });
    this.timer = setInterval(() => {
      this.o.db.update(managers).set({ lastSeenAt: new Date(this.now()) }).where(eq(managers.id, id))
        .catch((e: unknown) => this.o.log.debug({ err: e }, "manager heartbeat failed"));
    }, this.heartbeatMs);
    this.timer.unref();
  }

  /** Other instances heard from within the alive window. */
  async othersAlive(): Promise<number> {
    const rows = await this.o.db.select({ id: managers.id }).from(managers)
      .where(and(ne(managers.id, this.o.me.id), isNull(managers.stoppedAt), gt(managers.lastSeenAt, this.aliveSince())));
    return rows.length;
  }

  /** Instances alive, or seen within the listing window; newest first. */
  async list(): Promise<ManagerInstanceView[]> {
    const now = new Date(this.now());
    const rows = await this.o.db.select().from(managers)
      .where(or(gt(managers.lastSeenAt, new Date(now.getTime() - (this.o.listForMs ?? 86_400_000))), eq(managers.id, this.o.me.id)))
      .orderBy(desc(managers.startedAt));
    const ids = rows.map((r) => r.id);
    const held = ids.length
      ? await this.o.db.select({ holder: leases.holder, name: leases.name }).from(leases).where(and(inArray(leases.holder, ids), gt(leases.expiresAt, now)))
      : [];
    const leased = ids.length
      ? await this.o.db.select({ owner: jobs.leaseOwner, id: jobs.id }).from(jobs)
        .where(and(inArray(jobs.leaseOwner, ids), inArray(jobs.status, ["pending", "running"]), gt(jobs.leaseExpiresAt, now)))
      : [];
    const since = this.aliveSince();
    return rows.map((r) => ({
      id: r.id, hostname: r.hostname, pid: r.pid, version: r.version,
      startedAt: r.startedAt, lastSeenAt: r.lastSeenAt, stoppedAt: r.stoppedAt,
      alive: r.id === this.o.me.id || (r.stoppedAt === null && r.lastSeenAt > since),
      self: r.id === this.o.me.id,
      duties: held.filter((h) => h.holder === r.id).map((h) => h.name).sort(),
      jobsLeased: leased.filter((j) => j.owner === r.id).length,
    }));
  }

  /** A graceful stop: the row says so (a killed instance's row just stops being touched). */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.o.db.update(managers).set({ stoppedAt: new Date(this.now()), lastSeenAt: new Date(this.now()) }).where(eq(managers.id, this.o.me.id))
      .catch((e: unknown) => this.o.log.warn({ err: e }, "recording this manager's stop failed"));
  }
}
