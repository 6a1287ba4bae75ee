// The impure half of placement: snapshot (cached) → pure allocator → commit in PostgreSQL.
//
// The commit locks the chosen hosts' rows (FOR UPDATE, in id order) and compares their
// generation with the one the snapshot reflected. Equal: nothing was placed there since, the
// plan stands. Different: the locked hosts are re-read inside the transaction and the request is
// placed again on just those hosts (the pure core re-checks capacity, GPUs, affinity); only if
// it no longer fits there is the attempt retried on a refreshed snapshot, after a jittered
// back-off. So colliding deploys (vertical packing sends them all to one host) mostly commit on
// the first attempt instead of starving, and no host is ever allocated beyond what a check made
// under its lock saw as free. Strict affinity groups are locked as well and their members
// re-read, so two deploys into one group cannot both miss each other.
import { randomInt } from "node:crypto";
import { eq, inArray, sql } from "drizzle-orm";
import { OrbitError } from "#shared/errors.js";
import { applyPlan, place, rejectionError } from "../allocator/index.js";
import type { AllocationPolicy } from "../allocator/policy.js";
import type { PlacementPlan, PlacementRequest, PlacementResult } from "../allocator/types.js";
import type { Db, Tx } from "../db/database.js";
import { hosts } from "../db/schema.js";
import { lockStrictGroups, withMemberHosts } from "./affinity-members.js";
import { prepareRows, writeRows, type CommitRows, type CreatedVm, type PreparedRows } from "./commit-rows.js";
import { SnapshotCache, type CachedSnapshot } from "./snapshot-cache.js";
import { buildSnapshot } from "./snapshot-builder.js";

export { rejectionError };
export type { CommitRows, CreatedVm, NewVm } from "./commit-rows.js";

/** The attempt must start over on a refreshed snapshot. */
class RetryPlacement extends Error {
  constructor(readonly dirtyHostIds: readonly string[]) {
    super("retry placement");
  }
}

export interface PlacementServiceOptions {
  db: Db;
  policy: () => AllocationPolicy;
  now?: () => Date;
  /** Attempts before giving up with a retryable conflict (default 20). */
  maxAttempts?: number;
  /** Snapshot cache max age in ms (default 5000); older snapshots are rebuilt in the background. */
  snapshotMaxAgeMs?: number;
  /** false: build a fresh snapshot for every placement (the benchmark's baseline). */
  cacheSnapshots?: boolean;
  /** false: every request in its own transaction (default: concurrent requests share one). */
  groupCommit?: boolean;
  /** Most requests in one group commit (default 32). */
  maxBatch?: number;
  /** Group commits in flight at once, each on its own connection (default 4). */
  maxBatchesInFlight?: number;
}

export interface PlacementStats {
  commits: number;
  /** Group commits (several requests in one transaction). */
  batches: number;
  /** Group commits abandoned (a host changed elsewhere, an error): their requests went one by one. */
  batchesRedone: number;
  /** Commits whose hosts had changed since the snapshot and were re-placed under lock. */
  replacedUnderLock: number;
  /** Attempts started over (plan no longer fitted, or an affinity group changed). */
  retries: number;
}

/** What placeAndCommit answers: the plan committed and the VMs it created (by placement index). */
export interface Committed {
  plan: PlacementPlan;
  vms: CreatedVm[];
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

/**
 * A host's new generation after a commit: random rather than + 1, so that equal generations
 * mean the same commit even when one of ours rolled back and someone else's landed instead.
 */
export function generationToken(): number {
  return randomInt(1, 2 ** 31 - 1);
}

interface Queued {
  request: PlacementRequest;
  rows: CommitRows;
  resolve: (v: Committed) => void;
  reject: (e: unknown) => void;
}

export class PlacementService {
  readonly cache: SnapshotCache;
  readonly stats: PlacementStats = { commits: 0, batches: 0, batchesRedone: 0, replacedUnderLock: 0, retries: 0 };
  private readonly queue: Queued[] = [];
  private draining = false;
  private inFlight = 0;
  /** Per host, the commit of the last batch placed on it (while in flight). */
  private readonly lastCommit = new Map<string, Promise<void>>();
  private wake: (() => void) | undefined;
  /** Per environment, the full snapshot builds and host generation reads for confirming refusals. */
  private readonly freshBuilds = new Map<string, Shared<CachedSnapshot>>();
  private readonly generationReads = new Map<string, Shared<GenerationRead>>();

  constructor(private readonly o: PlacementServiceOptions) {
    this.cache = new SnapshotCache(o.db, { ...(o.snapshotMaxAgeMs !== undefined && { maxAgeMs: o.snapshotMaxAgeMs }) });
  }

  private placeOn(snapshot: Parameters<typeof place>[0], request: PlacementRequest, seed: number): PlacementResult {
    return place(snapshot, request, { seed, now: this.o.now?.() ?? new Date(), policy: this.o.policy() });
  }

  /** Dry run: place on a fresh snapshot, commit nothing. */
  async dryRun(request: PlacementRequest, seed = randomInt(2 ** 31)): Promise<PlacementResult> {
    const snapshot = await buildSnapshot(this.o.db, { environment: request.environment });
    return this.placeOn(snapshot, await withMemberHosts(this.o.db, request), seed);
  }

  /** Hosts or settings changed outside placements: drop cached snapshots. */
  invalidate(): void {
    this.cache.invalidate();
  }

  /**
   * Places the request and, in one transaction, writes its VM rows (`rows.vm`, one per placement),
   * their jobs, the allocations and the hosts' new generation; concurrent requests share that
   * transaction (one statement), each all-or-nothing. Answers the plan and the VMs created.
   * Throws InsufficientCapacityError (checked against a freshly built snapshot) when nothing fits.
   */
  async placeAndCommit(request: PlacementRequest, rows: CommitRows): Promise<Committed> {
    if (this.o.groupCommit === false) return this.placeAndCommitAlone(request, rows);
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
    this.placeAndCommitAlone(q.request, q.rows, refused).then(q.resolve, q.reject);
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
      cached = await this.cache.get(env);
    } catch {
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
    if (!this.cache.adopt(env, base, working, hostIds, token)) {
      placed.forEach(({ q }) => this.alone(q));
      return undefined;
    }
    // Commit after the in-flight batches that touch the same hosts (else we would find their
    // hosts at a generation we did not place on, and redo everything).
    const after = [...new Set(hostIds.flatMap((id) => {
      const p = this.lastCommit.get(id);
      return p ? [p] : [];
    }))];
    let settle!: () => void;
    const done = new Promise<void>((r) => { settle = r; });
    for (const id of hostIds) this.lastCommit.set(id, done);
    void done.then(() => {
      for (const id of hostIds) if (this.lastCommit.get(id) === done) this.lastCommit.delete(id);
    });
    return { env, placed, hostIds, seen, token, after, settle };
  }

  /**
   * Writes a prepared batch as one statement (so one transaction and one round trip): it locks
   * the batch's hosts, checks each is at the generation the batch was placed on (so nothing but
   * the batches before it changed them), writes every request's rows and stamps the hosts with
   * the batch's token. On any failure its hosts are re-read and its requests take the one-by-one
   * path (where a request whose rows fail fails alone).
   */
  private async commitBatch(b: PreparedBatch): Promise<void> {
    try {
      await Promise.all(b.after);
      const created = await writeRows(this.o.db, {
        hosts: b.hostIds.map((id) => ({ id: Number(id), generation: b.seen.get(id) })),
        token: b.token,
        requests: b.placed.map((x) => x.rows),
      });
      if (created === undefined) throw new RetryPlacement([]);
      this.stats.commits += b.placed.length;
      this.stats.batches++;
      this.cache.landedOn(b.env, b.hostIds);
      this.cache.settled(b.env, b.hostIds);
      b.settle();
      b.placed.forEach(({ q, plan }, i) => q.resolve({ plan, vms: created[i]! }));
    } catch {
      // The cache holds this batch as if committed: re-read its hosts.
      this.cache.markDirty(b.env, b.hostIds);
      this.stats.batchesRedone++;
      this.cache.settled(b.env, b.hostIds);
      b.settle();
      b.placed.forEach(({ q }) => this.alone(q));
    }
  }

  /**
   * The cached snapshot brought up to date with PostgreSQL now, to confirm a refusal. Every change
   * to what a host can take (placements, releases, facts, state, resource state) gives it a new
   * generation, so reading the environment's host generations (one small query) tells which
   * hosts to re-read; only those are. A full build when the hosts themselves changed (added,
   * removed) or too many did. Cluster settings changed by another manager are not seen here (as
   * in the cache, until its periodic rebuild); affinity members are read per attempt anyway.
   * Before this, a refusal cost a full build (~200 ms for 1,000 hosts with 15,000 VMs).
   */
  private async currentSnapshot(env: string): Promise<CachedSnapshot> {
    const cached = await this.cache.get(env);
    const read = await sharedAfterCall(this.generationReads, env, () => this.hostGenerations(env));
    const current = read.generations;
    if (current.size !== cached.generations.size || [...current.keys()].some((id) => !cached.generations.has(id))) {
      return this.freshSnapshot(env);
    }
    // Compared with the cache as it was when the read started. Hosts with group commits in flight
    // then or now carry the generation those will write and hold their placements: more than
    // PostgreSQL shows (if a commit fails, its hosts are re-read); so do hosts this process
    // committed on during the read.
    const changed: string[] = [];
    for (const [id, g] of current) {
      const was = read.cached.get(id);
      if (g !== was && !read.busy.has(id) && !this.lastCommit.has(id) && cached.generations.get(id) === was) changed.push(id);
    }
    if (changed.length === 0) return cached;
    if (changed.length > current.size / 4) return this.freshSnapshot(env);
    this.cache.markDirty(env, changed);
    return this.cache.get(env);
  }


  /**
   * A snapshot built from PostgreSQL after this call (to confirm a refusal). Callers that ask
   * while one is being built share the next one, so a burst of refusals (say, deploys into a full
   * GPU pool) costs one or two full builds instead of one each (each a read of the whole
   * environment, on the thread that places everything else).
   */
  private freshSnapshot(env: string): Promise<CachedSnapshot> {
    return sharedAfterCall(this.freshBuilds, env, () => this.cache.get(env, true));
  }

  /** The environment's hosts and their generations in PostgreSQL (one row: cheap to decode). */
  private async hostGenerations(env: string): Promise<GenerationRead> {
    const cached = new Map((await this.cache.get(env)).generations);
    const busy = new Set(this.lastCommit.keys());
    const res = (await this.o.db.execute(sql`
      select coalesce(json_agg(h.id), '[]') as ids, coalesce(json_agg(h.generation), '[]') as gens
      from hosts h join clusters c on c.id = h.cluster_id join environments e on e.id = c.environment_id
      where e.name = ${env}`)) as unknown as { rows: { ids: number[] | string; gens: number[] | string }[] };
    const row = res.rows[0];
    const ids = typeof row?.ids === "string" ? JSON.parse(row.ids) as number[] : row?.ids ?? [];
    const gens = typeof row?.gens === "string" ? JSON.parse(row.gens) as number[] : row?.gens ?? [];
    return { generations: new Map(ids.map((id, i) => [String(id), gens[i]!])), cached, busy };
  }

  /** One request, one transaction (with re-placement under lock and bounded retries). */
  async placeAndCommitAlone(request: PlacementRequest, rows: CommitRows, refusedOnCache = false): Promise<Committed> {
    const maxAttempts = this.o.maxAttempts ?? 20;
    const env = request.environment;
    let fresh = refusedOnCache && (request.affinityGroups ?? []).length === 0;
    for (let attempt = 1; ; attempt++) {
      const req = await withMemberHosts(this.o.db, request);
      const cached = this.o.cacheSnapshots === false ? await this.cache.get(env, true)
        : fresh ? await this.currentSnapshot(env) : await this.cache.get(env);
      const seed = randomInt(2 ** 31);
      const placed = this.placeOn(cached.snapshot, req, seed);
      if (!placed.ok) {
        // Never refuse on a cached view: confirm on a snapshot brought up to date just now.
        if (!fresh && this.o.cacheSnapshots !== false) { fresh = true; attempt--; continue; }
        throw rejectionError(placed.rejection);
      }
      fresh = false;
      const plan = placed.plan;
      const seen = new Map(plan.placements.map((p) => [p.hostId, cached.generations.get(p.hostId)]));
      try {
        const out = await this.o.db.transaction(async (tx) => {
          if (!(await lockStrictGroups(tx, req))) throw new RetryPlacement([]);
          const hostIds = [...new Set(plan.placements.map((p) => Number(p.hostId)))].sort((a, b) => a - b);
          const locked = await tx.select({ id: hosts.id, generation: hosts.generation }).from(hosts)
            .where(inArray(hosts.id, hostIds)).orderBy(hosts.id).for("update");
          const lockedGen = new Map(locked.map((h) => [String(h.id), h.generation]));
          let final = plan;
          if (locked.some((h) => seen.get(String(h.id)) !== h.generation)) {
            // Someone committed on one of these hosts since our snapshot: decide again on their
            // current state under our lock: the cache's copy when it is at exactly the locked
            // generations (commits of this process), else read from PostgreSQL.
            const current = this.cache.hostsAt(env, lockedGen) ?? await buildSnapshot(tx, { hostIds });
            const again = this.placeOn(current, req, seed);
            if (!again.ok) throw new RetryPlacement(hostIds.map(String));
            final = again.plan;
            this.stats.replacedUnderLock++;
          }
          const touched = [...new Set(final.placements.map((p) => p.hostId))];
          const token = generationToken();
          // The hosts are locked already: the statement's own check cannot fail.
          const [created] = (await writeRows(tx, {
            hosts: touched.map((id) => ({ id: Number(id), generation: lockedGen.get(id) })),
            token,
            requests: [prepareRows(rows, final)],
          })) ?? [];
          if (created === undefined) throw new OrbitError("internal", "placement commit found its locked hosts changed");
          await rows.after?.(tx, created);
          this.cache.committed(env, req, final, lockedGen, token);
          return { plan: final, vms: created };
        });
        this.stats.commits++;
        this.cache.landedOn(env, out.plan.placements.map((p) => p.hostId));
        return out;
      } catch (e) {
        if (!(e instanceof RetryPlacement)) throw e;
        this.stats.retries++;
        this.cache.markDirty(env, e.dirtyHostIds);
        if (attempt >= maxAttempts) {
          throw new OrbitError("conflict", `placement kept colliding with concurrent deploys (${attempt} attempts)`, { retryable: true });
        }
        // Jittered, growing back-off so that colliding deploys spread out.
        await new Promise((r) => setTimeout(r, Math.random() * Math.min(100, 2 ** attempt)));
      }
    }
  }
}

interface GenerationRead {
  /** Host id → generation in PostgreSQL. */
  generations: Map<string, number>;
  /** The cache's generations, and the hosts with group commits in flight, when the read started. */
  cached: Map<string, number>;
  busy: Set<string>;
}

/** A result some callers share: the one being computed, and the one queued to start after it. */
interface Shared<T> { current?: Promise<T>; next?: Promise<T> }

/**
 * `start()`'s result for a caller that needs one begun after its call: callers that come while
 * one runs share the next, which starts when it ends. So a burst of N callers costs at most two
 * runs, and none gets a result older than its call.
 */
function sharedAfterCall<T>(slots: Map<string, Shared<T>>, key: string, start: () => Promise<T>): Promise<T> {
  let slot = slots.get(key);
  if (slot === undefined) slots.set(key, (slot = {}));
  const s = slot;
  const run = (): Promise<T> => {
    const p: Promise<T> = start().finally(() => {
      if (s.current === p) s.current = undefined;
    });
    s.current = p;
    return p;
  };
  if (s.next !== undefined) return s.next;
  if (s.current === undefined) return run();
  const next = s.current.then(() => undefined, () => undefined).then(() => {
    if (s.next === next) s.next = undefined;
    return run();
  });
  s.next = next;
  return next;
}

/** Gives a host a new generation (its capacity changed outside a placement: release, new facts). */
export async function touchHost(tx: Tx | Db, hostId: number): Promise<void> {
  await tx.update(hosts).set({ generation: generationToken() }).where(eq(hosts.id, hostId));
}
