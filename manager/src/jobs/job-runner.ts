// Runs jobs (one row per long operation). Every job status change happens here: pending →
// running → succeeded | failed, with attempts counted. Handlers are idempotent steps that
// re-read state, so a job interrupted by a manager restart is simply run again.
import { and, eq, inArray, lt } from "drizzle-orm";
import type { Logger } from "pino";
import { OrbitError, databaseUnavailableFrom, toErrorInfo } from "#shared/errors.js";
import type { Db } from "../db/database.js";
import { jobs } from "../db/schema.js";

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

/** A job as services hand it out: its row, with the result typed. */
export type Job = Omit<JobRow, "result"> & { result: JobResult | null };

export interface JobContext {
  job: JobRow;
  attempt: number;
  log: Logger;
  progress(pct: number): Promise<void>;
  /** Aborted when the runner stops: long handlers (downloads) end early, retryable, and are resumed by the next manager. */
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
}

export interface JobMetrics {
  jobSettled(kind: string, outcome: "succeeded" | "failed", seconds: number, code?: string): void;
  jobRetried(kind: string, code: string): void;
}

const defaultDatabaseRetryMs = (failures: number) => Math.min(10_000, 500 * 2 ** (failures - 1));

export class JobRunner {
  private readonly handlers = new Map<string, JobHandler>();
  private readonly active = new Map<number, Promise<void>>();
  private stopped = false;
  private readonly stopping = new AbortController();

  constructor(private readonly o: JobRunnerOptions) {}

  register(kind: string, handler: JobHandler): void {
    this.handlers.set(kind, handler);
  }

  enqueue(jobId: number): void {
    if (this.stopped || this.active.has(jobId)) return;
    const p = this.runThroughOutages(jobId)
      .catch((e) => this.o.log.error({ err: e, jobId }, "job runner failed; the job is resumed at the next start"))
      .finally(() => this.active.delete(jobId));
    this.active.set(jobId, p);
  }

  /**
   * Runs a job; when the database fails under it (lost connection, outage) the job is run again
   * once the wait is over, from its current row: handlers are idempotent steps, and a database
   * failure is not the job's failure, so it costs no attempt's verdict and never leaves the job
   * `running` with nobody running it.
   */
  private async runThroughOutages(jobId: number): Promise<void> {
    const wait = this.o.databaseRetryMs ?? defaultDatabaseRetryMs;
    for (let failures = 1; ; failures++) {
      try {
        await this.run(jobId);
        return;
      } catch (e) {
        if (!databaseUnavailableFrom(e) || this.stopped) throw e;
        if (!this.o.onDatabaseUnavailable?.(e)) this.o.log.warn({ jobId, err: databaseUnavailableFrom(e)!.message }, "database unavailable under a job; it runs again");
        await this.sleep(wait(failures));
        if (this.stopped) return; // resumed by the next manager
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

  /** Picks up jobs left pending or running by a previous manager process. */
  async resume(): Promise<number> {
    const open = await this.o.db.select({ id: jobs.id }).from(jobs).where(inArray(jobs.status, ["pending", "running"]));
    for (const j of open) this.enqueue(j.id);
    return open.length;
  }

  /**
   * Every `everyMs`, runs the jobs left `pending` for longer than `graceMs` that nothing runs.
   * Their creator committed them but never enqueued them: the database failed between the commit
   * and the enqueue (the request was answered 503), or the commit's answer was lost with its
   * connection. Without this they would wait for the next manager start.
   */
  sweep(everyMs = 5000, graceMs = 5000): void {
    clearInterval(this.sweeper);
    this.sweeper = setInterval(() => {
      if (this.stopped) return;
      this.o.db.select({ id: jobs.id }).from(jobs)
        .where(and(eq(jobs.status, "pending"), lt(jobs.updatedAt, new Date(Date.now() - graceMs))))
        .then((rows) => {
          const orphans = rows.filter((r) => !this.active.has(r.id));
          if (orphans.length) this.o.log.warn({ jobIds: orphans.map((r) => r.id) }, "running jobs left pending (their creator could not start them)");
          for (const r of orphans) this.enqueue(r.id);
        }, (e: unknown) => {
          if (!databaseUnavailableFrom(e) || !this.o.onDatabaseUnavailable?.(e)) this.o.log.warn({ err: e }, "pending-job sweep failed");
        });
    }, everyMs);
    this.sweeper.unref();
  }

  private sweeper: NodeJS.Timeout | undefined;

  /** Waits for every job currently running (tests, shutdown). */
  async idle(): Promise<void> {
    while (this.active.size) await Promise.allSettled([...this.active.values()]);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.stopping.abort();
    clearInterval(this.sweeper);
    for (const wake of [...this.wakers]) wake();
    await Promise.allSettled([...this.active.values()]);
  }

  private async run(jobId: number): Promise<void> {
    const max = this.o.maxAttempts ?? 8;
    const maxAttempts = typeof max === "number" ? () => max : max;
    const backoff = this.o.backoffMs ?? ((a: number) => Math.min(10_000, 250 * 2 ** (a - 1)));
    for (;;) {
      if (this.stopped) return;
      const [job] = await this.o.db.select().from(jobs).where(eq(jobs.id, jobId));
      if (!job || job.status === "succeeded" || job.status === "failed") return;
      const handler = this.handlers.get(job.kind);
      const attempt = job.attempts + 1;
      await this.o.db.update(jobs).set({ status: "running", attempts: attempt, updatedAt: new Date() }).where(eq(jobs.id, jobId));
      const log = this.o.log.child({ jobId, kind: job.kind, vmId: job.vmId, attempt });
      try {
        if (!handler) throw new OrbitError("internal", `no handler for job kind ${job.kind}`);
        const result = await handler({
          job: { ...job, attempts: attempt, status: "running" },
          attempt,
          log,
          signal: this.stopping.signal,
          progress: async (pct) => {
            await this.o.db.update(jobs).set({ progress: Math.round(pct), updatedAt: new Date() }).where(eq(jobs.id, jobId));
          },
        });
        await this.o.db.update(jobs).set({
          status: "succeeded", progress: 100, result: result ?? {}, error: null, updatedAt: new Date(), finishedAt: new Date(),
        }).where(eq(jobs.id, jobId));
        log.info("job succeeded");
        this.o.metrics?.jobSettled(job.kind, "succeeded", (Date.now() - job.createdAt.getTime()) / 1000);
        return;
      } catch (e) {
        // The database failed, not the job: runThroughOutages runs it again.
        if (databaseUnavailableFrom(e)) throw e;
        const info = toErrorInfo(e);
        if (info.retryable && attempt < maxAttempts() && !this.stopped) {
          log.warn({ err: info.message }, "job attempt failed, retrying");
          this.o.metrics?.jobRetried(job.kind, info.code);
          await this.o.db.update(jobs).set({ error: info, updatedAt: new Date() }).where(eq(jobs.id, jobId));
          await new Promise((r) => setTimeout(r, backoff(attempt)));
          continue;
        }
        if (this.stopped && info.retryable) return; // resumed by the next manager
        log.warn({ err: info.message, code: info.code }, "job failed");
        await this.o.db.update(jobs).set({
          status: "failed", error: info, updatedAt: new Date(), finishedAt: new Date(),
        }).where(eq(jobs.id, jobId));
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
      }
    }
  }
}
