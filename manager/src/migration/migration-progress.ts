// A running migration's progress samples (agent events, at most two a second): the latest is kept
// on the migration row (shown by the admin views) and the job's percent follows the copy. A sample
// for no running migration from that host (late, or for another command) is dropped.
import { and, eq, sql } from "drizzle-orm";
import type { MigrationProgress } from "#shared/protocol.js";
import type { Db } from "../db/database.js";
import { jobs, vmMigrations, vms, type MigrationProgressJson } from "../db/schema.js";

export function progressJson(p: MigrationProgress, at: Date): MigrationProgressJson {
  return {
    at: at.toISOString(), elapsedMs: p.elapsedMs, dataProcessedBytes: p.dataProcessedBytes, dataRemainingBytes: p.dataRemainingBytes,
    dataTotalBytes: p.dataTotalBytes, dirtyRatePagesPerSec: p.dirtyRatePagesPerSec, memoryBandwidthBps: p.memoryBandwidthBps,
    expectedDowntimeMs: p.expectedDowntimeMs, iteration: p.iteration,
  };
}

/** The job's percent for a sample: 5 (prepared) to 95 (copied), by bytes processed of the total. */
export function progressPercent(p: Pick<MigrationProgress, "dataProcessedBytes" | "dataTotalBytes">): number | undefined {
  if (p.dataTotalBytes <= 0) return undefined;
  return 5 + Math.round(90 * Math.min(1, p.dataProcessedBytes / p.dataTotalBytes));
}

export function onMigrationProgress(db: Db, now: () => Date = () => new Date()) {
  return async (hostId: number, p: MigrationProgress): Promise<void> => {
    const [m] = await db.update(vmMigrations).set({ progress: progressJson(p, now()) })
      .where(and(
        eq(vmMigrations.sourceHostId, hostId), eq(vmMigrations.state, "running"),
        eq(vmMigrations.vmId, sql`(select ${vms.id} from ${vms} where ${vms.uuid} = ${p.vmUuid.toLowerCase()})`),
      )).returning({ jobId: vmMigrations.jobId });
    const pct = progressPercent(p);
    if (m?.jobId != null && pct !== undefined) await db.update(jobs).set({ progress: pct, updatedAt: now() }).where(and(eq(jobs.id, m.jobId), eq(jobs.status, "running")));
  };
}
