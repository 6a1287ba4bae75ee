// Group commit: concurrent requests share one transaction (one statement). Each batch is placed
// on the cached snapshot, which at once holds the batch as if committed (its hosts carrying the
// generation token the commit will write), and committed while the next batch is placed. A
// request that does not fit there, names affinity groups or has writes of its own takes the
// one-by-one path (single-commit.ts) instead, and so does every request of a batch whose commit
// fails. A batch whose accounts have limits is committed in a transaction that checks them under
// the accounts' locks first; one over its limit sends the batch one by one, where it alone is
// refused. So colliding deploys (vertical packing sends them all to one host) mostly commit on the
// first attempt instead of starving.
import { randomInt } from "node:crypto";
import { applyPlan, place } from "../allocator/index.js";
import type { AllocationPolicy } from "../allocator/policy-types.js";
import type { PlacementPlan, PlacementRequest, PlacementResult } from "../allocator/types.js";
import type { Db } from "../db/database.js";
import { generationToken } from "../hosts/host-generation.js";
import { accountDemands, checkLimitedAccounts } from "./account-limits.js";
import { prepareRows, writeRows, type CommitRows, type PreparedRows, type WriteInput, type WriteOutcome } from "./commit-rows.js";
import { RetryPlacement, type Committed, type PlacementStats } from "./placement-types.js";
import type { CachedSnapshot, SnapshotCache } from "./snapshot-cache.js";

export interface GroupCommitOptions {
  db: Db;
  cache: SnapshotCache;
  stats: PlacementStats;
  policy: () => AllocationPolicy;
  now?: () => Date;
  /** The one-by-one path; `refused`: it did not fit on the cached snapshot already. */
  alone: (request: PlacementRequest, rows: CommitRows, refused: boolean) => Promise<Committed>;
  /** Most requests in one group commit (default 32). */
  maxBatch?: number;
  /** Group commits in flight at once, each on its own connection (default 4). */
  maxBatchesInFlight?: number;
  /** Told about an error a batch absorbed (its requests went one by one and meet it there, if it lasts). */
  report: (e: unknown, msg: string) => void;
}

interface Queued {
  request: PlacementRequest;
  rows: CommitRows;
  resolve: (v: Committed) => void;
  reject: (e: unknown) => void;
}

interface PreparedBatch {
  env: string;
  placed: { q: Queued; plan: PlacementPlan; rows: PreparedRows }[];
  /** Touched hosts (ids as strings, ascending). */
  hostIds: string[];
  /** Their generations the batch was placed on. */
  seen: Map<string, number | undefined>;
  /** The generation the commit stamps them with. */
  token: number;
  /** Commits of earlier batches on the same hosts, to wait for. */
  after: Promise<void>[];
  /** Marks this batch's commit finished (committed or not). */
  settle: () => void;
}

export class GroupCommit {
  /** Per host, the commit of the last batch placed on it (while in flight). */
  readonly inFlightByHost = new Map<string, Promise<void>>();
  private readonly queue: Queued[] = [];
  private draining = false;
  private inFlight = 0;
  private wake: (() => void) | undefined;
  /**
   * Accounts a commit last found limited: their batches go straight to the checking transaction
   * (the one statement would only refuse them). A hint: wrong either way it costs a statement, never a check.
   */
  private readonly limited = new Set<number>();

  constructor(private readonly o: GroupCommitOptions) {}

  /** Queues the request for the next batch; answers when its batch (or its own path) committed. */
  submit(request: PlacementRequest, rows: CommitRows): Promise<Committed> {
    return new Promise((resolve, reject) => {
      this.queue.push({ request, rows, resolve, reject });
      this.drain();
    });
  }

  /**
   * Commits queued requests in batches: each batch is placed (on the cached snapshot, which
   * already holds the batches still in flight) and then committed while the next one is placed,
   * up to `maxBatchesInFlight` transactions at once.
   */
  private drain(): void {
    if (this.draining) return;
    this.draining = true;
    void (async () => {
      try {
        while (this.queue.length > 0) {
          // Let callers whose previous request just completed queue their next one first.
          await new Promise((r) => setImmediate(r));
          if (this.inFlight >= (this.o.maxBatchesInFlight ?? 4)) {
            await new Promise<void>((r) => { this.wake = r; });
            continue;
          }
          const batch = this.queue.splice(0, this.o.maxBatch ?? 32);
          const env = batch[0]!.request.environment;
          // One environment per batch (one cached snapshot); the others wait for the next one.
          const mine = batch.filter((q) => q.request.environment === env);
          this.queue.unshift(...batch.filter((q) => q.request.environment !== env));
          let prepared: PreparedBatch | undefined;
          try {
            prepared = await this.prepareBatch(env, mine);
          } catch (e) {
            // Unexpected: fail the batch's callers (settling an already settled one is a no-op).
            mine.forEach((q) => q.reject(e));
            continue;
          }
          if (prepared === undefined) continue;
          this.inFlight++;
          void this.commitBatch(prepared).finally(() => {
            this.inFlight--;
            const w = this.wake;
            this.wake = undefined;
            w?.();
          });
        }
      } finally {
        this.draining = false;
      }
    })();
  }

  /** `refused`: it did not fit on the cached snapshot already (confirm on a current one first). */
  private alone(q: Queued, refused = false): void {
    this.o.alone(q.request, q.rows, refused).then(q.resolve, q.reject);
  }

  /**
   * Places a batch's requests one after the other on the cached snapshot (each sees the ones
   * before it) and at once makes the result the cached snapshot, each touched host carrying the
   * generation token the commit will write, so the next batch builds on this one. A request
   * that does not fit there, names affinity groups or has writes of its own (`after`) takes the
   * one-by-one path instead.
   */
  private async prepareBatch(env: string, batch: Queued[]): Promise<PreparedBatch | undefined> {
    let cached: CachedSnapshot;
    try {
      cached = await this.o.cache.get(env);
    } catch (e) {
      // No snapshot (the database failed): each request takes its own path, which answers the error.
      this.o.report(e, "placement: no snapshot for a group commit; its requests go one by one");
      batch.forEach((q) => this.alone(q));
      return undefined;
    }
    // Synchronous from here to adopt(): no other placement can interleave.
    const policy = this.o.policy();
    const now = this.o.now?.() ?? new Date();
    const base = cached.snapshot;
    let working = base;
    const placed: { q: Queued; plan: PlacementPlan; rows: PreparedRows }[] = [];
    for (const q of batch) {
      if ((q.request.affinityGroups ?? []).length > 0 || q.rows.after !== undefined) { this.alone(q); continue; }
      let r: PlacementResult;
      let rows: PreparedRows;
      try {
        r = place(working, q.request, { seed: randomInt(2 ** 31), now, policy });
        if (!r.ok) { this.alone(q, true); continue; }
        rows = prepareRows(q.rows, r.plan);
      } catch (e) {
        // An invalid request (the core validates it) or rows: its caller gets the error, the batch goes on.
        q.reject(e);
        continue;
      }
      working = applyPlan(working, q.request, r.plan);
      placed.push({ q, plan: r.plan, rows });
    }
    if (placed.length === 0) return undefined;
    const hostIds = [...new Set(placed.flatMap((x) => x.plan.placements.map((p) => p.hostId)))].sort((a, b) => Number(a) - Number(b));
    const seen = new Map(hostIds.map((id) => [id, cached.generations.get(id)]));
    const token = generationToken();
    if (!this.o.cache.adopt(env, base, working, hostIds, token)) {
      placed.forEach(({ q }) => this.alone(q));
      return undefined;
    }
    // Commit after the in-flight batches that touch the same hosts (else we would find their
    // hosts at a generation we did not place on, and redo everything).
    const after = [...new Set(hostIds.flatMap((id) => {
      const p = this.inFlightByHost.get(id);
      return p ? [p] : [];
    }))];
    let settle!: () => void;
    const done = new Promise<void>((r) => { settle = r; });
    for (const id of hostIds) this.inFlightByHost.set(id, done);
    void done.then(() => {
      for (const id of hostIds) if (this.inFlightByHost.get(id) === done) this.inFlightByHost.delete(id);
    });
    return { env, placed, hostIds, seen, token, after, settle };
  }

  /**
   * Writes a prepared batch as one statement (so one transaction and one round trip): it locks
   * the batch's hosts, checks each is at the generation the batch was placed on (so nothing but
   * the batches before it changed them), writes every request's rows and stamps the hosts with
   * the batch's token. On any failure its hosts are re-read and its requests take the one-by-one
   * path (where a request whose rows fail fails alone, and a database error reaches its caller).
   */
  private async commitBatch(b: PreparedBatch): Promise<void> {
    try {
      await Promise.all(b.after);
      const requests = b.placed.map((x) => x.rows);
      const input: WriteInput = {
        hosts: b.hostIds.map((id) => ({ id: Number(id), generation: b.seen.get(id) })), token: b.token, requests,
      };
      const demands = accountDemands(requests);
      // One statement when no account of the batch has a limit; else a transaction checking them first.
      const accounts = [...demands.keys()];
      const refused: WriteOutcome = { refused: "account-limits" };
      let outcome: WriteOutcome = accounts.some((a) => this.limited.has(a)) ? refused
        : await writeRows(this.o.db, { ...input, unlimitedAccounts: accounts });
      if ("refused" in outcome && outcome.refused === "account-limits") {
        outcome = await this.o.db.transaction(async (tx): Promise<WriteOutcome> => {
          const check = await checkLimitedAccounts(tx, demands);
          for (const a of accounts) if (check.limited.has(a)) this.limited.add(a); else this.limited.delete(a);
          if (check.refusal) return refused;
          return writeRows(tx, input);
        });
      }
      if (!("written" in outcome)) throw new RetryPlacement([]);
      const created = outcome.written;
      this.o.stats.commits += b.placed.length;
      this.o.stats.batches++;
      this.o.cache.landedOn(b.env, b.hostIds);
      this.o.cache.settled(b.env, b.hostIds);
      b.settle();
      b.placed.forEach(({ q, plan }, i) => q.resolve({ plan, vms: created[i]! }));
    } catch (e) {
      // A host changed elsewhere (expected under load) or an error: the cache holds this batch as
      // if committed, so its hosts are re-read; each request goes on alone.
      if (!(e instanceof RetryPlacement)) this.o.report(e, "placement: a group commit failed; its requests go one by one");
      this.o.cache.markDirty(b.env, b.hostIds);
      this.o.stats.batchesRedone++;
      this.o.cache.settled(b.env, b.hostIds);
      b.settle();
      b.placed.forEach(({ q }) => this.alone(q));
    }
  }
}
