// Prometheus metrics of one manager process (GET /metrics): API latency per route, placements
// and their rejections, jobs, heartbeat lag per host, agent command latency, connected agents,
// and the process's default metrics. Every label takes values from a bounded set: route
// patterns (never raw URLs), HTTP methods, status classes, machine codes, job and command kinds,
// and host ids of the hosts connected now (a host's series go when its stream does).
// One registry per manager (several run in one test process); the process metrics are shared.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";

/** What a scrape answers. */
export interface MetricsScrape {
  contentType: string;
  body: string;
}

const HTTP_METHODS = new Set(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]);
/** Machine codes, job and command kinds: anything else (a code nobody planned) counts as "other". */
const CODE = /^[A-Za-z][A-Za-z0-9_.-]{0,63}$/;
/** A route pattern as Fastify's router registered it ("/v1/core/virtual-machines/:id"). */
const ROUTE = /^\/[A-Za-z0-9_.\-/:*{}]{0,199}$/;

/** Requests that matched no route (404s) share one label value, whatever their URL. */
export const UNMATCHED_ROUTE = "unmatched";

export function methodLabel(method: string): string {
  return HTTP_METHODS.has(method) ? method : "other";
}

export function statusClass(status: number): string {
  return Number.isInteger(status) && status >= 100 && status <= 599 ? `${Math.floor(status / 100)}xx` : "other";
}

/** The matched route's pattern (Fastify's routeOptions.url); undefined, i.e. no route matched: "unmatched". */
export function routeLabel(pattern: string | undefined): string {
  if (!pattern) return UNMATCHED_ROUTE;
  return ROUTE.test(pattern) ? pattern : "other";
}

export function codeLabel(code: string | undefined): string {
  return code && CODE.test(code) ? code : "other";
}

/** Allocator refusal codes of an InsufficientCapacityError, one each ("no_hosts" when no host was even considered). */
export function rejectionReasons(err: unknown): string[] {
  const rejections = (err as { rejections?: unknown } | null)?.rejections;
  if (!Array.isArray(rejections)) return [];
  const codes = new Set<string>();
  for (const r of rejections as { code?: unknown; filter?: unknown }[]) {
    codes.add(codeLabel(typeof r.code === "string" ? r.code : typeof r.filter === "string" ? r.filter : undefined));
  }
  return codes.size ? [...codes].sort() : ["no_hosts"];
}

let processRegistry: Registry | undefined;
/** Process-wide metrics (CPU, memory, event loop lag, GC): collected once per process. */
function processMetrics(): Registry {
  if (!processRegistry) {
    processRegistry = new Registry();
    collectDefaultMetrics({ register: processRegistry });
  }
  return processRegistry;
}

const SECONDS_FAST = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const SECONDS_SLOW = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800];

export interface ManagerMetricsOptions {
  /** Agents with an open stream to this manager, read at each scrape. */
  connectedAgents: () => number;
  /** Jobs whose lease this manager instance holds now (jobs/job-runner.ts), read at each scrape. */
  leasedJobs?: () => number;
  /** Each singleton duty by name, and whether this instance holds it now (cluster/duties.ts). */
  dutiesHeld?: () => Record<string, boolean>;
  /** Default true; false leaves the process metrics out (unit tests read one registry). */
  processMetrics?: boolean;
}

export class ManagerMetrics {
  readonly registry = new Registry();
  private readonly api: Histogram<"method" | "route" | "status_class">;
  private readonly placements: Counter<"outcome">;
  private readonly placedVms: Counter;
  private readonly placementRejections: Counter<"reason">;
  private readonly placementDuration: Histogram<"outcome">;
  private readonly jobDuration: Histogram<"kind" | "outcome">;
  private readonly jobFailures: Counter<"kind" | "code">;
  private readonly jobRetries: Counter<"kind" | "code">;
  private readonly heartbeatLag: Histogram;
  /**
   * Each connected host's last lag (s), put into the per-host gauge at scrape time only: setting
   * a labelled gauge hashes its labels, which every heartbeat of every host would pay.
   */
  private readonly lastLagByHost = new Map<number, number>();
  private readonly commandDuration: Histogram<"kind" | "outcome">;
  private readonly flushBatch: Histogram<"outcome">;
  private readonly flushDuration: Histogram<"outcome">;
  /** Counted in plain numbers on the heartbeat path, put into their counters at scrape time (as lastLagByHost). */
  private readonly reconciledCount = { full: 0, routine: 0 };
  private readonly coalescedCount = { flush: 0, stream: 0 };
  private readonly streamPauses: Counter;
  private readonly pausedStreams: Gauge;

  constructor(private readonly o: ManagerMetricsOptions) {
    const registers = [this.registry];
    this.api = new Histogram({
      name: "orbit_api_request_duration_seconds", help: "HTTP API requests by route pattern, method and status class",
      labelNames: ["method", "route", "status_class"], buckets: SECONDS_FAST, registers,
    });
    this.placements = new Counter({
      name: "orbit_placements_total", help: "Placement requests by outcome (placed, rejected: no capacity, failed: any other error)",
      labelNames: ["outcome"], registers,
    });
    this.placedVms = new Counter({ name: "orbit_placed_vms_total", help: "VMs placed and committed", registers });
    this.placementRejections = new Counter({
      name: "orbit_placement_rejections_total", help: "Rejected placement requests by the allocator's refusal code (one count per distinct code of a rejection)",
      labelNames: ["reason"], registers,
    });
    this.placementDuration = new Histogram({
      name: "orbit_placement_duration_seconds", help: "Placement and commit time of a request, by outcome",
      labelNames: ["outcome"], buckets: SECONDS_FAST, registers,
    });
    this.jobDuration = new Histogram({
      name: "orbit_job_duration_seconds", help: "Jobs from creation to their final state, by kind and outcome",
      labelNames: ["kind", "outcome"], buckets: SECONDS_SLOW, registers,
    });
    this.jobFailures = new Counter({
      name: "orbit_job_failures_total", help: "Jobs failed for good, by kind and error code",
      labelNames: ["kind", "code"], registers,
    });
    this.jobRetries = new Counter({
      name: "orbit_job_retries_total", help: "Job attempts that failed with a retryable error and were tried again, by kind and error code",
      labelNames: ["kind", "code"], registers,
    });
    this.heartbeatLag = new Histogram({
      name: "orbit_heartbeat_lag_seconds", help: "From an agent sending a heartbeat (its clock) to this manager handling it",
      buckets: SECONDS_FAST, registers,
    });
    const lastLagByHost = this.lastLagByHost;
    new Gauge({
      name: "orbit_heartbeat_last_lag_seconds", help: "Lag of the last heartbeat handled, per connected host",
      labelNames: ["host_id"], registers,
      collect() {
        this.reset();
        for (const [hostId, lag] of lastLagByHost) this.set({ host_id: String(hostId) }, lag);
      },
    });
    this.commandDuration = new Histogram({
      name: "orbit_agent_command_duration_seconds", help: "Agent commands from dispatch on the stream to their result, by command kind and outcome",
      labelNames: ["kind", "outcome"], buckets: SECONDS_SLOW, registers,
    });
    this.flushBatch = new Histogram({
      name: "orbit_heartbeat_flush_batch_size", help: "Hosts written per coalesced heartbeat flush (one statement), by outcome",
      labelNames: ["outcome"], buckets: [1, 10, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 25000], registers,
    });
    this.flushDuration = new Histogram({
      name: "orbit_heartbeat_flush_duration_seconds", help: "Time of one coalesced heartbeat flush, by outcome",
      labelNames: ["outcome"], buckets: SECONDS_FAST, registers,
    });
    const coalescedCount = this.coalescedCount;
    new Counter({
      name: "orbit_heartbeats_coalesced_total",
      help: "Heartbeats replaced by a newer one of the same host before being handled: waiting in a stream (never handled) or waiting for a flush (never written)",
      labelNames: ["where"], registers,
      collect() {
        this.reset();
        for (const where of ["flush", "stream"] as const) if (coalescedCount[where]) this.inc({ where }, coalescedCount[where]);
      },
    });
    const reconciledCount = this.reconciledCount;
    new Counter({
      name: "orbit_heartbeat_reconciles_total", help: "Heartbeats by path: full (reconciled: report changed, first of a stream, or periodic) or routine (liveness only)",
      labelNames: ["pass"], registers,
      collect() {
        this.reset();
        for (const pass of ["full", "routine"] as const) if (reconciledCount[pass]) this.inc({ pass }, reconciledCount[pass]);
      },
    });
    this.streamPauses = new Counter({ name: "orbit_agent_stream_pauses_total", help: "Agent streams paused because too many of their messages waited to be handled", registers });
    this.pausedStreams = new Gauge({ name: "orbit_agent_streams_paused", help: "Agent streams paused now (their messages waiting at the bound)", registers });
    new Gauge({
      name: "orbit_connected_agents", help: "Agents with an open stream to this manager", registers,
      collect() { this.set(o.connectedAgents()); },
    });
    if (o.leasedJobs) {
      const leasedJobs = o.leasedJobs;
      new Gauge({
        name: "orbit_jobs_leased", help: "Jobs this manager instance holds the lease of (runs) now", registers,
        collect() { this.set(leasedJobs()); },
      });
    }
    if (o.dutiesHeld) {
      const dutiesHeld = o.dutiesHeld;
      new Gauge({
        name: "orbit_duty_held", help: "1 for each singleton duty (HA, host liveness...) this manager instance runs now, else 0", labelNames: ["duty"], registers,
        collect() { for (const [duty, held] of Object.entries(dutiesHeld())) this.set({ duty }, held ? 1 : 0); },
      });
    }
    if (o.processMetrics !== false) processMetrics();
  }

  observeRequest(method: string, routePattern: string | undefined, status: number, seconds: number): void {
    this.api.observe({ method: methodLabel(method), route: routeLabel(routePattern), status_class: statusClass(status) }, seconds);
  }

  placed(vms: number, seconds: number): void {
    this.placements.inc({ outcome: "placed" });
    this.placedVms.inc(vms);
    this.placementDuration.observe({ outcome: "placed" }, seconds);
  }

  /** A placement that threw: rejected when it is the allocator's refusal (it has rejections), else failed. */
  placementRefused(err: unknown, seconds: number): void {
    const code = (err as { code?: unknown } | null)?.code;
    const outcome = code === "insufficient_capacity" ? "rejected" : "failed";
    this.placements.inc({ outcome });
    this.placementDuration.observe({ outcome }, seconds);
    if (outcome === "rejected") for (const reason of rejectionReasons(err)) this.placementRejections.inc({ reason });
  }

  jobSettled(kind: string, outcome: "succeeded" | "failed", seconds: number, code?: string): void {
    this.jobDuration.observe({ kind: codeLabel(kind), outcome }, Math.max(0, seconds));
    if (outcome === "failed") this.jobFailures.inc({ kind: codeLabel(kind), code: codeLabel(code) });
  }

  jobRetried(kind: string, code: string): void {
    this.jobRetries.inc({ kind: codeLabel(kind), code: codeLabel(code) });
  }

  /** sentAtMs is the agent's clock: a negative lag (clock skew) stays visible in the gauge, the histogram counts 0. */
  heartbeat(hostId: number, sentAtMs: number, receivedAtMs: number): void {
    if (!(sentAtMs > 0)) return; // an agent that does not stamp its heartbeats
    const lag = (receivedAtMs - sentAtMs) / 1000;
    this.heartbeatLag.observe(Math.max(0, lag));
    this.lastLagByHost.set(hostId, lag);
  }

  /** The host's stream closed: its per-host series go (the label set stays bounded by the hosts connected). */
  hostDisconnected(hostId: number): void {
    this.lastLagByHost.delete(hostId);
  }

  commandSettled(kind: string, outcome: "ok" | "error" | "timeout" | "unavailable", seconds: number): void {
    this.commandDuration.observe({ kind: codeLabel(kind), outcome }, seconds);
  }

  heartbeatsFlushed(batchSize: number, seconds: number, ok: boolean): void {
    const outcome = ok ? "ok" : "failed";
    this.flushBatch.observe({ outcome }, batchSize);
    this.flushDuration.observe({ outcome }, seconds);
  }

  heartbeatsCoalesced(where: "flush" | "stream", n: number): void {
    this.coalescedCount[where] += n;
  }

  heartbeatCoalesced(): void {
    this.coalescedCount.stream++;
  }

  heartbeatReconciled(full: boolean): void {
    if (full) this.reconciledCount.full++;
    else this.reconciledCount.routine++;
  }

  streamPaused(paused: boolean): void {
    if (paused) { this.streamPauses.inc(); this.pausedStreams.inc(); } else this.pausedStreams.dec();
  }

  async scrape(): Promise<MetricsScrape> {
    const own = await this.registry.metrics();
    const proc = this.o.processMetrics !== false ? await processMetrics().metrics() : "";
    return { contentType: this.registry.contentType, body: proc ? `${proc}\n${own}` : own };
  }
}
