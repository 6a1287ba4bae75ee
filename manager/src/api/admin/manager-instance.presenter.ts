// Manager instances as the admin API shows them.
import type { Static } from "@sinclair/typebox";
import type { ManagerInstanceView } from "../../cluster/manager-instances.js";
import type { ManagerInstance } from "./manager-instance.schema.js";

export function managerInstanceView(m: ManagerInstanceView): Static<typeof ManagerInstance> {
  return {
    id: m.id, hostname: m.hostname, pid: m.pid, version: m.version,
    started_at: m.startedAt.toISOString(), last_seen: m.lastSeenAt.toISOString(), stopped_at: m.stoppedAt?.toISOString() ?? null,
    alive: m.alive, self: m.self, duties: m.duties, jobs_leased: m.jobsLeased,
  };
}
