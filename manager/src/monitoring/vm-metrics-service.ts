// VM metrics: the agents' counter reports become usage samples (vm_metrics), series are read back
// averaged into buckets, and samples older than the retention setting are purged periodically.
import { and, eq, gte, inArray, isNull, lt, sql } from "drizzle-orm";
import type { Logger } from "pino";
import type { VmStatsReport } from "#shared/protocol.js";
import type { Db } from "../db/database.js";
import { vmLogRequests, vmMetrics, vms } from "../db/schema.js";
import { bucketSeconds } from "./metrics-duration.js";
import { countersOf, usageBetween, type VmCounters, type VmUsage } from "./vm-usage-rates.js";

export const METRICS_RETENTION_SETTING = "vm.metrics.retention.days";
/** Console log requests are fetched soon after they are made; older ones are purged. */
export const LOG_REQUEST_TTL_MS = 24 * 3600 * 1000;
/** Counters older than this make no rate with the next report (the VM was away that long). */
const COUNTERS_TTL_MS = 3600 * 1000;

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** One bucket of a VM's series: its start, its width, and the usage averaged over it. */
export interface VmUsagePoint extends VmUsage {
  at: Date;
}

export interface VmMetricsOptions {
  db: Db;
  /** Days samples are kept (the setting vm.metrics.retention.days). */
  retentionDays: () => number;
  log: Logger;
  /** How often old samples and log requests are purged. */
  purgeEveryMs?: number;
  now?: () => number;
}

export class VmMetricsService {
  /** The last counters of each VM (by id), to make a rate with the next report. */
  private readonly last = new Map<number, VmCounters>();
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<unknown> = Promise.resolve();
  private readonly now: () => number;

  constructor(private readonly o: VmMetricsOptions) {
    this.now = o.now ?? Date.now;
  }

  /** A host's report: a sample per VM of this host that has counters from an earlier report. */
  async record(hostId: number, report: VmStatsReport): Promise<number> {
    const byUuid = new Map(report.samples.filter((s) => UUID_RE.test(s.vmUuid) && s.stats).map((s) => [s.vmUuid.toLowerCase(), s.stats!]));
    if (byUuid.size === 0) return 0;
    // Only VMs the manager placed on this host: a host cannot report for another host's VM.
    const known = await this.o.db.select({ id: vms.id, uuid: vms.uuid }).from(vms)
      .where(and(eq(vms.hostId, hostId), inArray(vms.uuid, [...byUuid.keys()]), isNull(vms.deletedAt)));
    const rows: (typeof vmMetrics.$inferInsert)[] = [];
    for (const vm of known) {
      const next = countersOf(report.sampledAtMs, byUuid.get(vm.uuid.toLowerCase())!);
      const prev = this.last.get(vm.id);
      this.last.set(vm.id, next);
      const usage = prev && next.atMs - prev.atMs <= COUNTERS_TTL_MS ? usageBetween(prev, next) : undefined;
      if (usage) rows.push({ vmId: vm.id, at: new Date(next.atMs), ...usage });
    }
    if (rows.length) await this.o.db.insert(vmMetrics).values(rows);
    return rows.length;
  }

  /**
   * A VM's samples of the last windowSeconds (default: the whole retention), averaged into
   * buckets so the series stays within MAX_SERIES_POINTS; oldest first.
   */
  async series(vmId: number, windowSeconds?: number): Promise<VmUsagePoint[]> {
    const window = windowSeconds ?? this.o.retentionDays() * 86_400;
    const bucket = bucketSeconds(window);
    // The width is inlined (an integer computed here): as a parameter, each use would be a
    // different expression to PostgreSQL, and the GROUP BY would not match the SELECT.
    const width = sql.raw(String(Math.trunc(bucket)));
    const start = sql<number>`floor(extract(epoch from ${vmMetrics.at}) / ${width}) * ${width}`;
    const rows = await this.o.db.select({
      start: start.mapWith(Number),
      granularity: sql<number>`max(${vmMetrics.granularitySeconds})`.mapWith(Number),
      cpu: sql<number>`avg(${vmMetrics.cpuPercent})`.mapWith(Number),
      memory: sql<number>`avg(${vmMetrics.memoryUsedBytes})`.mapWith(Number),
      read: sql<number>`avg(${vmMetrics.diskReadBytesPerSecond})`.mapWith(Number),
      write: sql<number>`avg(${vmMetrics.diskWriteBytesPerSecond})`.mapWith(Number),
      rx: sql<number>`avg(${vmMetrics.networkInBytesPerSecond})`.mapWith(Number),
      tx: sql<number>`avg(${vmMetrics.networkOutBytesPerSecond})`.mapWith(Number),
    }).from(vmMetrics)
      .where(and(eq(vmMetrics.vmId, vmId), gte(vmMetrics.at, new Date(this.now() - window * 1000))))
      .groupBy(start).orderBy(start);
    return rows.map((r) => ({
      at: new Date(r.start * 1000),
      granularitySeconds: Math.max(bucket, r.granularity),
      cpuPercent: r.cpu,
      memoryUsedBytes: Math.round(r.memory),
      diskReadBytesPerSecond: r.read,
      diskWriteBytesPerSecond: r.write,
      networkInBytesPerSecond: r.rx,
      networkOutBytesPerSecond: r.tx,
    }));
  }

  /** Deletes samples past the retention and log requests past their TTL. */
  async purge(): Promise<{ samples: number; logRequests: number }> {
    const now = this.now();
    const samples = await this.o.db.delete(vmMetrics)
      .where(lt(vmMetrics.at, new Date(now - this.o.retentionDays() * 86_400_000))).returning({ id: vmMetrics.id });
    const logRequests = await this.o.db.delete(vmLogRequests)
      .where(lt(vmLogRequests.createdAt, new Date(now - LOG_REQUEST_TTL_MS))).returning({ id: vmLogRequests.id });
    for (const [vmId, c] of this.last) if (now - c.atMs > COUNTERS_TTL_MS) this.last.delete(vmId);
    return { samples: samples.length, logRequests: logRequests.length };
  }

  start(): void {
    this.timer = setInterval(() => {
      this.running = this.purge()
        .then((n) => { if (n.samples || n.logRequests) this.o.log.info(n, "purged old VM metrics and console log requests"); })
        .catch((e: unknown) => this.o.log.warn({ err: e }, "purging VM metrics failed; trying again later"));
    }, this.o.purgeEveryMs ?? 10 * 60_000);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
  }
}
