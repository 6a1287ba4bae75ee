// Jobs in Hyperstack's dialect.
import type { Job, JobResult } from "../../jobs/job-runner.js";
import type { JobResultView, JobView } from "./job.schema.js";

/** Which host ran a job is the operator's business: users do not see result fields naming one. */
const namesHost = (field: string) => field.startsWith("host");

function resultView(result: JobResult, viewer: "admin" | "user"): JobResultView {
  if (viewer === "admin") return result;
  return Object.fromEntries(Object.entries(result).filter(([field]) => !namesHost(field))) as JobResultView;
}

export function jobView(j: Job, viewer: "admin" | "user"): JobView {
  return {
    id: j.id,
    uuid: j.uuid,
    kind: j.kind,
    status: j.status,
    progress: j.progress,
    attempts: j.attempts,
    vm_id: j.vmId,
    volume_id: j.volumeId,
    result: j.result ? resultView(j.result, viewer) : null,
    error: j.error ?? null,
    created_at: j.createdAt.toISOString(),
    updated_at: j.updatedAt.toISOString(),
    finished_at: j.finishedAt?.toISOString() ?? null,
  };
}
