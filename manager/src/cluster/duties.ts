// The manager's singleton duties: background loops that must run in one manager instance at a
// time when several share the database. Each runs only while its instance holds the duty's lease
// (cluster-lease.ts), taken and renewed every third of the ttl; when the holder dies, another
// instance takes the lease once it expires and starts the duty (within the ttl plus one round).
//
// Not duties, because they are safe in every instance at once:
// - jobs: each job is leased on its own (jobs/job-runner.ts), and every instance's sweep claims
//   the jobs of a dead one (job recovery at start-up and host maintenance resumption are jobs);
// - callback delivery: each outbox row is leased (callbacks/callback-delivery.ts);
// - crash restarts: follow the domain events of the agents connected to this instance;
// - the settings listener, agent credential revocation, database health: this process's own.
import type { Logger } from "pino";
import { databaseUnavailableFrom } from "#shared/errors.js";
import type { Db } from "../db/database.js";
import { ClusterLease } from "./cluster-lease.js";

/** Every singleton duty, by the name of its lease (`leases.name`, GET /v1/admin/managers). */
export const DUTY_NAMES = [
  // hosts/host-liveness.ts: hosts past their heartbeat window become Suspect, their VMs Unknown.
  "host-liveness",
  // ha/ha-loop.ts: Suspect hosts investigated through their neighbours, Down hosts' HA VMs restarted elsewhere.
  "ha",
  // monitoring/vm-metrics-service.ts: VM metric samples and console log requests past their retention deleted.
  "vm-metrics-purge",
  // placement/account-usage-compaction.ts: accounts' usage delta rows folded (those of accounts without limits pile up otherwise).
  "account-usage-compaction",
] as const;

export type DutyName = (typeof DUTY_NAMES)[number];

export interface Duty {
  name: DutyName;
  start(): void;
  stop(): Promise<void>;
}

export interface ClusterDutiesOptions {
  db: Db;
  /** This manager instance's id. */
  holder: string;
  ttlMs: number;
  /** How often leases are taken or renewed (default: a third of the ttl). */
  renewEveryMs?: number;
  log: Logger;
  duties: Duty[];
  now?: () => number;
  /** Told when the database failed under a round; returns true when it logs the outage itself. */
  onDatabaseUnavailable?: (e: unknown) => boolean;
  /** Told when this instance starts or stops holding a duty (metrics). */
  onChange?: (held: DutyName[]) => void;
}

export class ClusterDuties {
  private readonly leases: Map<DutyName, ClusterLease>;
  /** The duties running here, with when their lease was last taken or renewed. */
  private readonly running = new Map<DutyName, number>();
  private readonly now: () => number;
  private timer: NodeJS.Timeout | undefined;
  private round: Promise<void> | undefined;
  private stopped = false;

  constructor(private readonly o: ClusterDutiesOptions) {
    this.now = o.now ?? Date.now;
    this.leases = new Map(o.duties.map((d) => [d.name, new ClusterLease({ db: o.db, name: d.name, holder: o.holder, ttlMs: o.ttlMs, now: this.now })]));
  }

  /** The duties this instance runs now. */
  held(): DutyName[] {
    return [...this.running.keys()];
  }

  /** Takes what it can at once, then tries every third of the ttl. */
  async start(): Promise<void> {
    await this.tick();
    this.timer = setInterval(() => { void this.tick(); }, this.o.renewEveryMs ?? Math.max(10, Math.floor(this.o.ttlMs / 3)));
    this.timer.unref();
  }

  /** One round: each duty's lease taken or renewed; duties started or stopped to match. */
  tick(): Promise<void> {
    if (this.round || this.stopped) return this.round ?? Promise.resolve();
    this.round = this.tickOnce().finally(() => { this.round = undefined; });
    return this.round;
  }

  private async tickOnce(): Promise<void> {
    const before = this.held().join(",");
    for (const duty of this.o.duties) {
      if (this.stopped) return;
      let holds: boolean;
      try {
        holds = await this.leases.get(duty.name)!.acquire();
      } catch (e) {
        if (!databaseUnavailableFrom(e) || !this.o.onDatabaseUnavailable?.(e)) this.o.log.warn({ err: e, duty: duty.name }, "renewing a duty's lease failed");
        // Unrenewed past the ttl, the lease may be another's: stop before that one starts.
        const renewedAt = this.running.get(duty.name);
        holds = renewedAt !== undefined && this.now() - renewedAt < this.o.ttlMs * 2 / 3;
        if (holds) continue;
      }
      const wasRunning = this.running.has(duty.name);
      if (holds) {
        this.running.set(duty.name, this.now());
        if (!wasRunning) {
          this.o.log.info({ duty: duty.name, holder: this.o.holder }, "took a duty's lease: running it here");
          duty.start();
        }
      } else if (wasRunning) {
        this.running.delete(duty.name);
        this.o.log.warn({ duty: duty.name, holder: this.o.holder }, "lost a duty's lease: stopped running it here");
        await duty.stop().catch((e: unknown) => this.o.log.warn({ err: e, duty: duty.name }, "stopping a duty failed"));
      }
    }
    if (this.held().join(",") !== before) this.o.onChange?.(this.held());
  }

  /** Stops every duty running here and releases its lease: another instance takes it at its next round. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    await this.round;
    for (const duty of this.o.duties) {
      if (!this.running.delete(duty.name)) continue;
      await duty.stop().catch((e: unknown) => this.o.log.warn({ err: e, duty: duty.name }, "stopping a duty failed"));
      await this.leases.get(duty.name)!.release().catch((e: unknown) => this.o.log.warn({ err: e, duty: duty.name }, "releasing a duty's lease failed; it expires by itself"));
    }
    this.o.onChange?.([]);
  }
}
