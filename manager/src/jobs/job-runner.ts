// Runs jobs (one row per long operation). Every job status change happens here: pending →
// running → succeeded | failed, with attempts counted. Handlers are idempotent steps that
// re-read state, so a job interrupted by a manager restart is simply run again.
//
// Several managers share one database: a job runs in the manager holding its lease
// (jobs.lease_owner until lease_expires_at), claimed atomically (FOR UPDATE SKIP LOCKED), renewed
// while it runs and released when it ends or the manager stops. A dead manager's jobs are claimed
// by another's sweep once their leases expire; a manager that lost a lease (renewal or a status
// write matched no row) aborts the job's handler and writes nothing more about it.
import { randomUUID } from "node:crypto";
import { and, eq, getTableColumns, inArray, isNull, lt, lte, notInArray, or, sql } from "drizzle-orm";
import type { Logger } from "pino";
import { OrbitError, databaseUnavailableFrom, toErrorInfo } from "#shared/errors.js";
import type { Db } from "../db/database.js";
import { jobs, vms } from "../db/schema.js";

export type JobRow = typeof jobs.$inferSelect;

/**
 * What a job that succeeded reports, stored as is in `jobs.result` (so its keys are the API's).
 * One shape for every kind, each field naming the kind that sets it: a new field goes here and
 * into the API's schema (api/hyperstack/job.schema.ts), which checks that it names all of them.
 */
export type JobResult = {
  /** vm.deploy: the host that runs the VM (shown to admins only). */
  host_id?: number;
  /** vm.deploy, the power actions' and the volume jobs: why nothing was done (the VM or attachment changed state while the job waited). */
  skipped?: string;
  /** vm.destroy: the VM was destroyed already. */
  already?: boolean;
  /** vm.reinstall*: the image the root disk was made afresh from. */
  image_name?: string;
  /** vm.clone*: the VM whose root disk was copied. */
  cloned_from?: number;
  /** vm.reset-ssh-key: the key pair now on the VM. */
  key_name?: string;
  /** vm.scale: the size the running domain now has. */
  scaled?: { vcpus: number; memory_mib: number };
  /** image.download: the image it made Ready, its stored format and size in bytes. */
  image_id?: number;
  format?: string;
  size_bytes?: number;
  /** vm.snapshot.*: the snapshot it made, reverted to or deleted. */
  snapshot_id?: number;
  /** vm.snapshot.revert: the VM's power state after it ("Running" for a memory snapshot, else "Stopped"). */
  vm_state?: string;
  /** host.maintenance: the host's resource state it ended in (Maintenance or ErrorInMaintenance). */
  resource_state?: string;
  /** vm.snapshot.create: bytes the VM's disks grew by across it (the agent's measure; 0: not measured). */
  created_bytes?: number;
  /** vm.snapshot.create: GiB its storage pool counts for it now. */
  pool_gib?: number;
  /** vm.snapshot.create: it measured more than the pool had left, counted up to the capacity. */
  pool_full?: string;
};

/** A job as services hand it out: its row (less the lease, the runners' business), with the result typed. */
export type Job = Omit<JobRow, "result" | "leaseOwner" | "leaseExpiresAt"> & { result: JobResult | null };

export interface JobContext {
  job: JobRow;
  /**
   * The job's VM's callback URL as the claim that began this attempt read it ("" none; undefined:
   * not read, e.g. a retried attempt): lets an action callback at the start skip its own read.
   */
  vmCallbackUrl?: string | undefined;
  attempt: number;
  log: Logger;
  progress(pct: number): Promise<void>;
  /**
   * Aborted when the runner stops or loses the job's lease (another manager runs it now): long
   * handlers (downloads) end early, retryable, and the job is resumed by its next holder.
   */
  signal: AbortSignal;
}

export type JobHandler = (ctx: JobContext) => Promise<JobResult | void>;

export interface JobRunnerOptions {
  db: Db;
  log: Logger;
  /** Attempts for retryable errors before the job fails (a function: the job.max.attempts setting, read per attempt). */
  maxAttempts?: number | (() => number);
  backoffMs?: (attempt: number) => number;
  /** Called when a job fails for good (e.g. to move its VM to Error). */
  onFailed?: (job: JobRow, error: { code: string; message: string; retryable: boolean }) => Promise<void>;
  /** Wait before running a job again after the database failed under it (grows to 10 s). */
  databaseRetryMs?: (failures: number) => number;
  /** Told when the database failed under a job; returns true when it logs the outage itself. */
  onDatabaseUnavailable?: (e: unknown) => boolean;
  /** Told when a job ends (seconds since it was created) and when an attempt is retried (monitoring/manager-metrics.ts). */
  metrics?: JobMetrics;
  /** This manager instance's id, written as the lease owner of the jobs it runs (default: a random id). */
  owner?: string;
  /** How long a claimed job stays this manager's without renewal (default 30 s). */
  leaseTtlMs?: number;
  /** How often the leases of running jobs are renewed (default 10 s: a third of the ttl). */
  renewEveryMs?: number;
  /** The clock (ms) lease expiries are computed with. */
  now?: () => number;
  /**
   * Progress is written at most this often per job (default 500 ms), the first time this long
   * after the attempt began, the latest value then: a short job (a deploy whose host answers at
   * once) writes none, and its final status says 100.
   */
  progressEveryMs?: number;
}

/** A running attempt's progress not yet written, and the write under way (the status writes wait for it). */
interface PendingProgress { pct?: number; timer?: NodeJS.Timeout; writing?: Promise<void>; lastAt: number }

export interface JobMetrics {
  jobSettled(kind: string, outcome: "succeeded" | "failed", seconds: number, code?: string): void;
  jobRetried(kind: string, code: string): void;
}

const defaultDatabaseRetryMs = (failures: number) => Math.min(10_000, 500 * 2 ** (failures - 1));

/** A claimed job's row, with its VM's callback URL when the claim read it. */
type ClaimedJob = JobRow & { vmCallbackUrl?: string | null };

/** Jobs still to run: pending, or running in a manager that may have died. */
const OPEN = ["pending", "running"] as const;

export class JobRunner {
  private readonly handlers = new Map<string, JobHandler>();
  private readonly active = new Map<number, Promise<void>>();
  /** Aborted when the job's lease is lost (one per active job). */
  private readonly lost = new Map<number, AbortController>();
  /** Jobs whose final status write gave their lease up already (no release, no renewal). */
  private readonly settled = new Set<number>();
  /** Failed jobs whose onFailed hook has not finished: their status reads failed already. */
  private readonly failing = new Set<number>();
  /** Per running attempt, its coalesced progress (see progressEveryMs). */
  private readonly progressOf = new Map<number, PendingProgress>();
  private stopped = false;
  private readonly stopping = new AbortController();
  /** This manager instance: the lease owner of the jobs it runs. */
  readonly owner: string;
  private readonly ttlMs: number;
  private readonly now: () => number;
  private renewer: NodeJS.Timeout | undefined;

  constructor(private readonly o: JobRunnerOptions) {
    this.owner = o.owner ?? `jobs-${randomUUID()}`;
    this.ttlMs = o.leaseTtlMs ?? 30_000;
    this.now = o.now ?? Date.now;
  }

  register(kind: string, handler: JobHandler): void {
    this.handlers.set(kind, handler);
  }

  /** Jobs this runner holds the lease of and runs now (monitoring, GET /v1/admin/managers). */
  leasedJobIds(): number[] {
    return [...this.active.keys()];
  }

  /**
   * Jobs already failed in the database whose onFailed hook (their VM, snapshot... to Error) is
   * still running here: what waits for "no open job" must also wait for these.
   */
  failingJobIds(): number[] {
    return [...this.failing];
  }

  /**
   * Runs a job just committed (or one a handler chains): claimed directly, so a created job starts
   * at once in the manager that created it. A job another live manager holds is left to it.
   */
  enqueue(jobId: number): void {
    if (this.stopped || this.active.has(jobId)) return;
    this.start(jobId, async () => {
      try {
        // Claimed and its attempt begun (running, attempts + 1) in one statement.
        return (await this.claimOne(jobId, false, true)) ?? false;
      } catch (e) {
        // Left for the sweep (this or another manager's) once its grace is over.
        if (!databaseUnavailableFrom(e) || !this.o.onDatabaseUnavailable?.(e)) this.o.log.warn({ err: e, jobId }, "claiming a job failed; the sweep runs it");
        return false;
      }
    });
  }

  /**
   * Runs a job whose lease `claimed` takes (or was taken already: () => true); a claim that
   * returns the job's row began its attempt already (claimOne with `begin`).
   */
  private start(jobId: number, claimed: () => Promise<ClaimedJob | boolean>): void {
    const lost = new AbortController();
    this.lost.set(jobId, lost);
    this.startRenewing();
    const p = claimed()
      .then((mine) => mine ? this.runThroughOutages(jobId, mine === true ? undefined : mine).finally(() => this.release(jobId)) : undefined)
      .catch((e) => this.o.log.error({ err: e, jobId }, "job runner failed; the job is resumed when its lease expires"))
      .finally(() => {
        this.active.delete(jobId); this.lost.delete(jobId); this.settled.delete(jobId);
        clearTimeout(this.progressOf.get(jobId)?.timer);
        this.progressOf.delete(jobId);
      });
    this.active.set(jobId, p);
  }

  private leaseExpiry(): Date {
    return new Date(this.now() + this.ttlMs);
  }

  /** Free to claim: never claimed and older than the grace, or its lease expired (or was released). */
  private claimable(graceMs: number) {
    const now = new Date(this.now());
    return and(inArray(jobs.status, [...OPEN]), or(
      and(isNull(jobs.leaseExpiresAt), lt(jobs.updatedAt, new Date(now.getTime() - graceMs))),
      lte(jobs.leaseExpiresAt, now),
    ));
  }

  /**
   * Takes one job's lease: free, or already this manager's. Atomic (row lock, re-checked). Its row,
   * or undefined. `begin`: the same statement begins an attempt (what run() would write next).
   */
  private async claimOne(jobId: number, force = false, begin = false): Promise<ClaimedJob | undefined> {
    const [row] = await this.o.db.update(jobs).set({
      leaseOwner: this.owner, leaseExpiresAt: this.leaseExpiry(),
      ...(begin ? { status: "running", attempts: sql`${jobs.attempts} + 1`, updatedAt: new Date() } : {}),
    })
      .where(and(eq(jobs.id, jobId), inArray(jobs.status, [...OPEN]), force ? undefined : or(
        isNull(jobs.leaseOwner), eq(jobs.leaseOwner, this.owner), lte(jobs.leaseExpiresAt, new Date(this.now())),
      ))).returning({
        ...getTableColumns(jobs),
        // Read with the claim for the attempt it begins (JobContext.vmCallbackUrl); null: no VM.
        ...(begin ? { vmCallbackUrl: sql<string | null>`(select ${vms.callbackUrl} from ${vms} where ${vms.id} = ${jobs.vmId})` } : {}),
      });
    return row;
  }

  /**
   * Claims up to `limit` free jobs at once: the rows are locked with SKIP LOCKED, so two managers
   * claiming together each get different jobs, and re-checked under the lock, so a job claimed
   * meanwhile is not taken twice. `force` (a sole manager at start-up) takes every open job.
   */
  private async claimMany(limit: number, graceMs: number, force = false): Promise<number[]> {
    const where = force ? inArray(jobs.status, [...OPEN]) : this.claimable(graceMs);
    const busy = [...this.active.keys()];
    // A materialized CTE: the locking select runs once. As `id IN (subquery)` the planner may
    // rescan it per row, and a rescan skips the rows this statement already updated and locks
    // the next ones, claiming more than `limit`.
    const res = (await this.o.db.execute(sql`
      with free as materialized (
        select ${jobs.id} from ${jobs} where ${where} ${busy.length ? sql`and ${notInArray(jobs.id, busy)}` : sql``}
        order by ${jobs.id} limit ${limit} for update skip locked
      )
      update ${jobs} set lease_owner = ${this.owner}, lease_expires_at = ${this.leaseExpiry().toISOString()}::timestamptz
      from free where ${jobs.id} = free.id and ${where}
      returning ${jobs.id}`)) as unknown as { rows: { id: number }[] };
    return res.rows.map((r) => Number(r.id)).sort((a, b) => a - b);
  }

  /** Runs jobs claimed by claimMany. */
  private runClaimed(ids: number[]): void {
    for (const id of ids) if (!this.active.has(id) && !this.stopped) this.start(id, async () => true);
  }

  /**
   * Renews the leases of the jobs running here; a job whose renewal matched no row is another
   * manager's now (this one was too slow, or the database was away past the ttl): its handler is
   * aborted and nothing more is written about it.
   */
  async renew(): Promise<void> {
    const ids = [...this.active.keys()].filter((id) => !this.settled.has(id));
    if (!ids.length) return;
    const rows = await this.o.db.update(jobs).set({ leaseExpiresAt: this.leaseExpiry() })
      .where(and(inArray(jobs.id, ids), eq(jobs.leaseOwner, this.owner)))
      .returning({ id: jobs.id });
    const kept = new Set(rows.map((r) => r.id));
    for (const id of ids) if (!kept.has(id) && this.active.has(id) && !this.settled.has(id)) this.loseLease(id);
  }

  private loseLease(jobId: number): void {
    const c = this.lost.get(jobId);
    if (!c || c.signal.aborted) return;
    this.o.log.warn({ jobId, owner: this.owner }, "lost a job's lease (another manager runs it now): this manager stops running it");
    c.abort(new OrbitError("conflict", "the job's lease was lost: another manager runs it", { retryable: true }));
  }

  private hasLost(jobId: number): boolean {
    return this.lost.get(jobId)?.signal.aborted ?? true;
  }

  private startRenewing(): void {
    if (this.renewer) return;
    this.renewer = setInterval(() => {
      if (this.stopped) return;
      this.renew().catch((e: unknown) => {
        if (!databaseUnavailableFrom(e) || !this.o.onDatabaseUnavailable?.(e)) this.o.log.warn({ err: e }, "renewing job leases failed; trying again");
      });
    }, this.o.renewEveryMs ?? Math.max(10, Math.floor(this.ttlMs / 3)));
    this.renewer.unref();
  }

  /** Gives a job's lease up (it ended, or this manager stops): free for another manager at once. */
  private async release(jobId: number): Promise<void> {
    if (this.settled.has(jobId)) return;
    await this.o.db.update(jobs).set({ leaseOwner: null, leaseExpiresAt: new Date(this.now()) })
      .where(and(eq(jobs.id, jobId), eq(jobs.leaseOwner, this.owner)))
      .catch((e: unknown) => this.o.log.warn({ err: e, jobId }, "releasing a job's lease failed; it expires by itself"));
  }

  /**
   * Writes the job's row if this manager still holds its lease; false (and the handler aborted)
   * when it does not: another manager runs the job now and owns its status.
   */
  private async write(jobId: number, set: Partial<typeof jobs.$inferInsert>, final = false): Promise<boolean> {
    if (this.hasLost(jobId)) return false;
    if (set.progress === undefined || final) await this.endProgress(jobId);
    // The final status gives the lease up in the same statement (what release() would do next).
    const rows = await this.o.db.update(jobs).set(final ? { ...set, leaseOwner: null, leaseExpiresAt: new Date(this.now()) } : set)
      .where(and(eq(jobs.id, jobId), eq(jobs.leaseOwner, this.owner))).returning({ id: jobs.id });
    if (rows.length === 1) {
      if (final) this.settled.add(jobId);
      return true;
    }
    this.loseLease(jobId);
    return false;
  }

  /**
   * A handler's progress: written now when the last write (or the attempt's start) is
   * progressEveryMs old, else kept and written then (the latest value) unless the attempt ended first.
   */
  private async progress(jobId: number, pct: number, signal: AbortSignal): Promise<void> {
    const p = this.progressOf.get(jobId);
    if (!p) return;
    const every = this.o.progressEveryMs ?? 500;
    const now = Date.now();
    p.pct = Math.round(pct);
    if (p.timer || p.writing) return;
    if (now - p.lastAt >= every) {
      if (!await this.flushProgress(jobId, p)) throw signal.reason;
      return;
    }
    p.timer = setTimeout(() => {
      p.timer = undefined;
      void this.flushProgress(jobId, p);
    }, p.lastAt + every - now);
    p.timer.unref();
  }

  /** Writes the kept progress (false: the lease is lost). */
  private async flushProgress(jobId: number, p: PendingProgress): Promise<boolean> {
    if (p.pct === undefined || this.progressOf.get(jobId) !== p) return true;
    const pct = p.pct;
    p.pct = undefined;
    p.lastAt = Date.now();
    let ok = true;
    p.writing = this.write(jobId, { progress: pct, updatedAt: new Date() }).then((w) => { ok = w; }, (e: unknown) => {
      // Progress is advisory: a failed write is not the job's failure (the next status write meets the outage).
      if (!databaseUnavailableFrom(e) || !this.o.onDatabaseUnavailable?.(e)) this.o.log.warn({ err: e, jobId }, "writing a job's progress failed");
    }).finally(() => {
      p.writing = undefined;
      // A newer value came while this one was written: it goes at the next turn.
      if (p.pct !== undefined && this.progressOf.get(jobId) === p && !p.timer) {
        p.timer = setTimeout(() => { p.timer = undefined; void this.flushProgress(jobId, p); }, this.o.progressEveryMs ?? 500);
        p.timer.unref();
      }
    });
    await p.writing;
    return ok;
  }

  /** The attempt's status is written next: its kept progress is dropped and a progress write under way finishes first. */
  private async endProgress(jobId: number): Promise<void> {
    const p = this.progressOf.get(jobId);
    if (!p) return;
    this.progressOf.delete(jobId);
    clearTimeout(p.timer);
    await p.writing;
  }

  /**
   * Runs a job; when the database fails under it (lost connection, outage) the job is run again
   * once the wait is over, from its current row: handlers are idempotent steps, and a database
   * failure is not the job's failure, so it costs no attempt's verdict and never leaves the job
   * `running` with nobody running it.
   */
  private async runThroughOutages(jobId: number, claimed?: ClaimedJob): Promise<void> {
    const wait = this.o.databaseRetryMs ?? defaultDatabaseRetryMs;
    for (let failures = 1; ; failures++) {
      try {
        await this.run(jobId, failures === 1 ? claimed : undefined);
        return;
      } catch (e) {
        if (!databaseUnavailableFrom(e) || this.stopped) throw e;
        if (!this.o.onDatabaseUnavailable?.(e)) this.o.log.warn({ jobId, err: databaseUnavailableFrom(e)!.message }, "database unavailable under a job; it runs again");
        await this.sleep(wait(failures));
        if (this.stopped || this.hasLost(jobId)) return; // resumed by the lease's next holder
        // The outage may have outlasted the lease: run on only if it is still (or again) ours.
        if (!await this.claimOne(jobId).catch(() => true)) { this.loseLease(jobId); return; }
      }
    }
  }

  private readonly wakers = new Set<() => void>();
  /** A wait that stop() cuts short. */
  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => { clearTimeout(t); this.wakers.delete(done); resolve(); };
      const t = setTimeout(done, ms);
      this.wakers.add(done);
    });
  }

  /**
   * Picks up jobs left pending or running by a previous manager process: those free to claim
   * (released by a graceful stop, or their lease expired). `sole`: this is the only manager on the
   * database (PGlite: one process holds its data dir), so every open job is taken at once, even
   * one whose dead predecessor's lease has not expired yet.
   */
  async resume(opts: { sole?: boolean } = {}): Promise<number> {
    const ids = await this.claimMany(10_000, 0, opts.sole);
    this.runClaimed(ids);
    return ids.length;
  }

  /** One sweep: claims free jobs (see sweep()) and runs them; returns their ids. */
  async sweepOnce(graceMs = 5000, limit = 100): Promise<number[]> {
    if (this.stopped) return [];
    const ids = await this.claimMany(limit, graceMs);
    if (ids.length) this.o.log.warn({ jobIds: ids }, "running jobs nobody ran (their manager died or stopped, or their creator could not start them)");
    this.runClaimed(ids);
    return ids;
  }

  /**
   * Every `everyMs`, claims and runs the jobs nobody runs: those whose lease expired (their
   * manager died) or was released (it stopped), and those left `pending` unclaimed for longer than
   * `graceMs`, whose creator committed them but never enqueued them (the database failed between
   * the commit and the enqueue, or the commit's answer was lost with its connection).
   */
  sweep(everyMs = 5000, graceMs = 5000): void {
    clearInterval(this.sweeper);
    this.sweeper = setInterval(() => {
      if (this.stopped || this.sweeping) return;
      this.sweeping = this.sweepOnce(graceMs).then(() => undefined, (e: unknown) => {
        if (!databaseUnavailableFrom(e) || !this.o.onDatabaseUnavailable?.(e)) this.o.log.warn({ err: e }, "job sweep failed");
      }).finally(() => { this.sweeping = undefined; });
    }, everyMs);
    this.sweeper.unref();
  }

  private sweeping: Promise<void> | undefined;

  private sweeper: NodeJS.Timeout | undefined;

  /** Waits for every job currently running (tests, shutdown). */
  async idle(): Promise<void> {
    while (this.active.size) await Promise.allSettled([...this.active.values()]);
  }

  /** Stops running jobs; each one's lease is released as it ends, so another manager takes it at once. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.stopping.abort();
    clearInterval(this.sweeper);
    for (const wake of [...this.wakers]) wake();
    await this.sweeping;
    await Promise.allSettled([...this.active.values()]);
    clearInterval(this.renewer);
  }

  /**
   * `claimed`: the job's row as its claim just returned it, its attempt begun (read again, and
   * the attempt begun here, on every later pass).
   */
  private async run(jobId: number, claimed?: ClaimedJob): Promise<void> {
    const max = this.o.maxAttempts ?? 8;
    const maxAttempts = typeof max === "number" ? () => max : max;
    const backoff = this.o.backoffMs ?? ((a: number) => Math.min(10_000, 250 * 2 ** (a - 1)));
    for (;;) {
      if (this.stopped || this.hasLost(jobId)) return;
      const [row]: (ClaimedJob | undefined)[] = claimed ? [claimed] : await this.o.db.select().from(jobs).where(eq(jobs.id, jobId));
      const begun = claimed !== undefined;
      claimed = undefined;
      if (!row || row.status === "succeeded" || row.status === "failed") return;
      const { vmCallbackUrl, ...job } = row;
      const handler = this.handlers.get(job.kind);
      const attempt = begun ? job.attempts : job.attempts + 1;
      if (!begun && !await this.write(jobId, { status: "running", attempts: attempt, updatedAt: new Date() })) return;
      await this.endProgress(jobId);
      this.progressOf.set(jobId, { lastAt: Date.now() });
      const log = this.o.log.child({ jobId, kind: job.kind, vmId: job.vmId, attempt });
      const signal = AbortSignal.any([this.stopping.signal, this.lost.get(jobId)!.signal]);
      try {
        if (!handler) throw new OrbitError("internal", `no handler for job kind ${job.kind}`);
        const result = await handler({
          job: { ...job, attempts: attempt, status: "running" },
          vmCallbackUrl: vmCallbackUrl ?? undefined,
          attempt,
          log,
          signal,
          progress: (pct) => this.progress(jobId, pct, signal),
        });
        if (!await this.write(jobId, {
          status: "succeeded", progress: 100, result: result ?? {}, error: null, updatedAt: new Date(), finishedAt: new Date(),
        }, true)) { log.warn("job ended after its lease was lost: its holder settles it"); return; }
        log.info("job succeeded");
        this.o.metrics?.jobSettled(job.kind, "succeeded", (Date.now() - job.createdAt.getTime()) / 1000);
        return;
      } catch (e) {
        // The database failed, not the job: runThroughOutages runs it again.
        if (databaseUnavailableFrom(e)) throw e;
        // Another manager holds the job now: it settles it, not this one.
        if (this.hasLost(jobId)) return;
        const info = toErrorInfo(e);
        if (info.retryable && attempt < maxAttempts() && !this.stopped) {
          log.warn({ err: info.message }, "job attempt failed, retrying");
          this.o.metrics?.jobRetried(job.kind, info.code);
          if (!await this.write(jobId, { error: info, updatedAt: new Date() })) return;
          await new Promise((r) => setTimeout(r, backoff(attempt)));
          continue;
        }
        if (this.stopped && info.retryable) return; // resumed by the lease's next holder
        log.warn({ err: info.message, code: info.code }, "job failed");
        this.failing.add(jobId);
        try {
          if (!await this.write(jobId, {
            status: "failed", error: info, updatedAt: new Date(), finishedAt: new Date(),
          }, true)) return;
          this.o.metrics?.jobSettled(job.kind, "failed", (Date.now() - job.createdAt.getTime()) / 1000, info.code);
          // The job is failed for good: its hook (the VM to Error) must not be lost to a database
          // failure either, or the VM would stay Creating with no job behind it.
          for (let failures = 1; ; failures++) {
            try {
              await this.o.onFailed?.({ ...job, status: "failed" }, info);
            } catch (hookErr) {
              if (databaseUnavailableFrom(hookErr) && !this.stopped) {
                if (!this.o.onDatabaseUnavailable?.(hookErr)) log.warn({ err: databaseUnavailableFrom(hookErr)!.message }, "onFailed hook: database unavailable; trying again");
                await this.sleep((this.o.databaseRetryMs ?? defaultDatabaseRetryMs)(failures));
                continue;
              }
              log.error({ err: hookErr }, "onFailed hook failed");
            }
            return;
          }
        } finally {
          this.failing.delete(jobId);
        }
      }
    }
  }
}
