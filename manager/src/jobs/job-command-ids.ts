// The command ids of a job that sends several commands: one per step, derived from the job's
// uuid, so a retried attempt sends each step under the same id and the agent answers a step it
// already ran from its memory instead of running it twice.
import { createHash } from "node:crypto";

export function stepCommandId(jobUuid: string, step: string): string {
  const h = createHash("sha256").update(`${jobUuid}/${step}`).digest("hex");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-${((parseInt(h[16]!, 16) & 3) | 8).toString(16)}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}
