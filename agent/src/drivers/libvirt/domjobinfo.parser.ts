// PURE: `virsh domjobinfo --rawstats [--completed]` -> a migration job's numbers. With --rawstats
// virsh prints the "Job type:" line, then libvirt's typed parameters as `field: value` (exact
// bytes and milliseconds, where the human form rounds to 3 decimals of MiB). Unknown lines are
// ignored: libvirt adds fields over versions.
import type { MigrationProgress } from "../hypervisor.js";

/** libvirt's job type ("None" when no job runs, "Unbounded" while migrating, "Completed", "Failed", "Cancelled"). */
export type JobType = "none" | "bounded" | "unbounded" | "completed" | "failed" | "cancelled" | "unknown";

export interface DomainJobInfo extends MigrationProgress {
  type: JobType;
  /** libvirt's operation, e.g. "outgoing migration" (raw: a number). */
  operation: string | undefined;
  /** For a completed job: the guest's measured pause at the switch-over. */
  downtimeMs: number | undefined;
  /** Whether the job reports success (completed jobs of libvirt >= 6.0); undefined otherwise. */
  success: boolean | undefined;
  errorMessage: string | undefined;
}

// virDomainJobType, as the number raw output may give it.
const JOB_TYPES: JobType[] = ["none", "bounded", "unbounded", "completed", "failed", "cancelled"];

function jobType(v: string): JobType {
  const s = v.trim().toLowerCase();
  if (/^\d+$/.test(s)) return JOB_TYPES[Number(s)] ?? "unknown";
  return (JOB_TYPES as string[]).includes(s) ? (s as JobType) : "unknown";
}

function num(v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v.trim());
  return Number.isFinite(n) ? n : undefined;
}

export function parseDomjobinfoRaw(text: string): DomainJobInfo {
  const fields = new Map<string, string>();
  let type: JobType = "unknown";
  for (const line of text.split("\n")) {
    const m = /^\s*([^:]+?)\s*:\s*(.*?)\s*$/.exec(line);
    if (!m) continue;
    const [, key, value] = m as unknown as [string, string, string];
    if (key.toLowerCase() === "job type") type = jobType(value);
    else fields.set(key, value);
  }
  // While running, "downtime" is QEMU's expected downtime; once completed, the measured one.
  const downtime = num(fields.get("downtime"));
  const completed = type === "completed";
  const success = fields.get("success");
  return {
    type,
    operation: fields.get("operation"),
    elapsedMs: num(fields.get("time_elapsed")),
    dataProcessedBytes: num(fields.get("data_processed")),
    dataRemainingBytes: num(fields.get("data_remaining")),
    dataTotalBytes: num(fields.get("data_total")),
    dirtyRatePagesPerSec: num(fields.get("memory_dirty_rate")),
    memoryBandwidthBps: num(fields.get("memory_bps")),
    expectedDowntimeMs: completed ? undefined : downtime,
    iteration: num(fields.get("memory_iteration")),
    downtimeMs: completed ? downtime : undefined,
    success: success === undefined ? undefined : success === "yes" || success === "1" || success === "true",
    errorMessage: fields.get("errmsg"),
  };
}

/** The progress part of a job sample (what MigrateVmOptions.onProgress gets). */
export function progressOf(j: DomainJobInfo): MigrationProgress {
  return {
    elapsedMs: j.elapsedMs,
    dataProcessedBytes: j.dataProcessedBytes,
    dataRemainingBytes: j.dataRemainingBytes,
    dataTotalBytes: j.dataTotalBytes,
    dirtyRatePagesPerSec: j.dirtyRatePagesPerSec,
    memoryBandwidthBps: j.memoryBandwidthBps,
    expectedDowntimeMs: j.expectedDowntimeMs,
    iteration: j.iteration,
  };
}
