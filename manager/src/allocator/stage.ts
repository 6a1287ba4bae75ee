// The ranking of hosts for one request class (the request fields that static filters and
// static/stateful scorers read), cached per snapshot index:
//   - which hosts pass the static filters (zone, state, tags, models...);
//   - each host's key = static score + stateful score (allocation, GPU fit...), and the hosts
//     sorted by key, best first. A refinable scorer (plugin.ts `refine`) adds its upper bound to
//     the key but not to `base`, the part of the key that is exact for every request of the class.
// When applyPlan changes hosts, a stage recomputes only their keys; they are kept aside
// ("changed") and merged back into the order once there are more than a few.

import type { Fleet, FleetHost } from "./fleet.js";
import type { FilterCheck, Filter, PlacementContext, ScoreFunction } from "./plugin.js";
import type { AllocationPolicy } from "./policy-types.js";

export interface PreparedScorer {
  readonly name: string;
  readonly weight: number;
  readonly fn: ScoreFunction;
}

export interface PreparedFilter {
  readonly filter: Filter;
  readonly check: FilterCheck;
}

/**
 * Changed hosts kept aside before they are merged back into the order. A merge costs O(hosts);
 * each kept-aside host costs a visit per use of the stage. A stage used often (few changes
 * between uses) merges early; one used rarely keeps up to hosts/64 aside rather than paying a
 * merge at nearly every use.
 */
const MERGE_FREQUENT = 32;
const FREQUENT_GAP = 16;

/** Request classes remembered per snapshot index (least recently used dropped first). */
const MAX_STAGES = 256;

export class Stage {
  /** Hosts passing the static filters, by key (best first) as of the last merge. */
  private order: Int32Array;
  /** Hosts changed since the last merge (their keys are current, their place in `order` is not). */
  readonly changed: number[] = [];
  readonly isChanged: Uint8Array;
  /** Position in the fleet's change log this stage has read up to. */
  private seen: number;
  /** The previous order's array, reused by the next merge. */
  private spare: Int32Array;
  private readonly threshold: number;

  constructor(
    private readonly fleet: Fleet,
    readonly checks: readonly PreparedFilter[],
    readonly staticScorers: readonly PreparedScorer[],
    readonly statefulScorers: readonly PreparedScorer[],
    /** Upper bounds of refinable scorers: in `key`, not in `base`. */
    readonly boundScorers: readonly PreparedScorer[],
    readonly eligible: Uint8Array,
    readonly staticScore: Float64Array,
    readonly key: Float64Array,
    /** static + stateful scores without the bounds (the same array as `key` when there are none). */
    readonly base: Float64Array,
  ) {
    const pass: number[] = [];
    for (let i = 0; i < eligible.length; i++) if (eligible[i]) pass.push(i);
    this.order = Int32Array.from(this.sorted(pass));
    this.spare = new Int32Array(this.order.length);
    this.isChanged = new Uint8Array(eligible.length);
    this.seen = fleet.changeLog.length;
    this.threshold = Math.max(MERGE_FREQUENT, eligible.length >> 6);
  }

  get hostOrder(): Int32Array {
    return this.order;
  }

  /** Exact part of the key of a host in its current state. */
  baseOf(h: FleetHost): number {
    let k = this.staticScore[h.index]!;
    for (const s of this.statefulScorers) k += s.weight * s.fn.score(h);
    return k;
  }

  /** Key and base of a host in its current state, stored. */
  private update(h: FleetHost): void {
    const b = this.baseOf(h);
    let k = b;
    for (const s of this.boundScorers) k += s.weight * s.fn.score(h);
    this.base[h.index] = b;
    this.key[h.index] = k;
  }

  /** Catch up with hosts changed by applyPlan since this stage last looked. */
  sync(): void {
    const log = this.fleet.changeLog;
    if (this.seen === log.length) return;
    const frequent = log.length - this.seen <= FREQUENT_GAP;
    const hosts = this.fleet.hosts;
    for (let j = this.seen; j < log.length; j++) {
      const i = log[j]!;
      if (!this.eligible[i]) continue;
      if (!this.isChanged[i]) {
        this.isChanged[i] = 1;
        this.changed.push(i);
      }
      this.update(hosts[i]!);
    }
    this.seen = log.length;
    if (this.changed.length > (frequent ? MERGE_FREQUENT : this.threshold)) this.merge();
  }

  private sorted(list: number[]): number[] {
    const key = this.key;
    return list.sort((a, b) => key[b]! - key[a]! || a - b);
  }

  /** Puts the changed hosts back in order: O(hosts) instead of a full sort. */
  private merge(): void {
    const changed = this.sorted(this.changed.slice());
    const key = this.key;
    const out = this.spare;
    let o = 0;
    let c = 0;
    const before = (a: number, b: number): boolean => key[a]! > key[b]! || (key[a] === key[b] && a < b);
    for (let p = 0; p < this.order.length; p++) {
      const i = this.order[p]!;
      if (this.isChanged[i]) continue;
      while (c < changed.length && before(changed[c]!, i)) out[o++] = changed[c++]!;
      out[o++] = i;
    }
    while (c < changed.length) out[o++] = changed[c++]!;
    this.spare = this.order;
    this.order = out;
    for (const i of this.changed) this.isChanged[i] = 0;
    this.changed.length = 0;
  }
}

/** The stage for this request (built, or cached and brought up to date). */
export function stageFor(policy: AllocationPolicy, ctx: PlacementContext): Stage {
  const { fleet, request } = ctx;
  let key = `${policy.id}`;
  for (const f of policy.filters) if (f.static) key += `|${f.staticKey?.(request) ?? ""}`;
  for (const s of policy.scorers) if (s.scorer.kind !== "dynamic") key += `|${s.scorer.staticKey?.(request) ?? ""}`;
  let stage = fleet.stages.get(key) as Stage | undefined;
  if (stage === undefined) {
    stage = buildStage(policy, ctx);
    if (fleet.stages.size >= MAX_STAGES) fleet.stages.delete(fleet.stages.keys().next().value!);
  } else {
    fleet.stages.delete(key);
    stage.sync();
  }
  fleet.stages.set(key, stage);
  return stage;
}

/** Which hosts pass a static filter for one key (host facts only: valid for the fleet's lifetime). */
function staticPasses(fleet: Fleet, c: PreparedFilter, key: string): Uint8Array {
  let byKey = fleet.staticFilterPasses.get(c.filter);
  if (byKey === undefined) fleet.staticFilterPasses.set(c.filter, (byKey = new Map()));
  let pass = byKey.get(key);
  if (pass === undefined) {
    const hosts = fleet.hosts;
    pass = new Uint8Array(hosts.length);
    for (let i = 0; i < hosts.length; i++) pass[i] = c.check.test(hosts[i]!) ? 1 : 0;
    byKey.set(key, pass);
  }
  return pass;
}

/** A static scorer's score of every host for one key (host facts only: valid for the fleet's lifetime). */
function staticScoresOf(fleet: Fleet, sc: PreparedScorer, k: { scorer: object; key: string }): Float64Array {
  let byKey = fleet.staticScores.get(k.scorer);
  if (byKey === undefined) fleet.staticScores.set(k.scorer, (byKey = new Map()));
  let scores = byKey.get(k.key);
  if (scores === undefined) {
    const hosts = fleet.hosts;
    scores = new Float64Array(hosts.length);
    for (let i = 0; i < hosts.length; i++) scores[i] = sc.fn.score(hosts[i]!);
    byKey.set(k.key, scores);
  }
  return scores;
}

function buildStage(policy: AllocationPolicy, ctx: PlacementContext): Stage {
  const checks: PreparedFilter[] = [];
  for (const filter of policy.filters) {
    if (!filter.static) continue;
    const check = filter.prepare(ctx);
    if (check !== null) checks.push({ filter, check });
  }
  const staticScorers: PreparedScorer[] = [];
  const statefulScorers: PreparedScorer[] = [];
  const boundScorers: PreparedScorer[] = [];
  const staticKeys = new Map<PreparedScorer, { scorer: object; key: string }>();
  for (const { scorer, weight } of policy.scorers) {
    if (scorer.kind === "dynamic") continue;
    const fn = scorer.prepare(ctx);
    if (fn === null) continue;
    const list = scorer.kind === "static" ? staticScorers : scorer.refine !== undefined ? boundScorers : statefulScorers;
    const prepared = { name: scorer.name, weight, fn };
    list.push(prepared);
    if (scorer.kind === "static") staticKeys.set(prepared, { scorer, key: scorer.staticKey?.(ctx.request) ?? "" });
  }
  const hosts = ctx.fleet.hosts;
  const eligible = new Uint8Array(hosts.length);
  const staticScore = new Float64Array(hosts.length);
  const key = new Float64Array(hosts.length);
  const base = boundScorers.length === 0 ? key : new Float64Array(hosts.length);
  // Each static filter's verdicts and static scorer's scores, per its key, are shared by every
  // request class of the fleet.
  const passes = checks.map((c) => staticPasses(ctx.fleet, c, c.filter.staticKey?.(ctx.request) ?? ""));
  const staticScores = staticScorers.map((sc) => staticScoresOf(ctx.fleet, sc, staticKeys.get(sc)!));
  outer: for (let i = 0; i < hosts.length; i++) {
    const h = hosts[i]!;
    for (const p of passes) if (!p[i]) continue outer;
    eligible[i] = 1;
    let s = 0;
    for (let k = 0; k < staticScores.length; k++) s += staticScorers[k]!.weight * staticScores[k]![i]!;
    staticScore[i] = s;
    let k = s;
    for (const sc of statefulScorers) k += sc.weight * sc.fn.score(h);
    base[i] = k;
    for (const sc of boundScorers) k += sc.weight * sc.fn.score(h);
    key[i] = k;
  }
  return new Stage(ctx.fleet, checks, staticScorers, statefulScorers, boundScorers, eligible, staticScore, key, base);
}
