// What HA concludes about a Suspect host from its neighbours' probes: Down (fenced: its VMs may
// be restarted elsewhere) only when nothing says it may still run VMs; Alert otherwise. CloudStack's
// rule: never risk running a VM twice, so every doubt is Alert (no restart; re-checked; an admin
// may declare it Down by hand once they fenced it).
import type { HostProbeEvidenceJson } from "../db/schema.js";

export interface HaDecisionInput {
  /** The host's storage heartbeat dir ("": it has none, so it never fences itself). */
  storageHeartbeatDir: string;
  /** How long the host's agent waits before fencing itself (0: self-fencing off). */
  selfFenceAfterMs: number;
  /** Beyond self_fence_after_ms, for clocks and the last write's interval. */
  marginMs: number;
  /** How often agents write their storage heartbeat: one at most twice this old is still being written. */
  heartbeatIntervalMs: number;
  probes: HostProbeEvidenceJson[];
}

/** Suspect: not decided yet (its heartbeat stopped, but it may still be fencing itself): probed again at the next round. */
export interface HaVerdict { state: "Down" | "Alert" | "Suspect"; reason: string }

/** The decision alone (table-tested in ha-decision.test.ts). */
export function decideSuspectHost(i: HaDecisionInput): HaVerdict {
  const answered = i.probes.filter((p) => p.answered);
  if (answered.length === 0) {
    return { state: "Alert", reason: i.probes.length === 0
      ? "no neighbour in its cluster can probe it (none Up with a storage heartbeat dir): not fenced, nothing restarted"
      : `no neighbour answered the probe (${i.probes.map((p) => `${p.neighbour}: ${p.detail}`).join("; ")}): not fenced, nothing restarted` };
  }
  const reaching = answered.filter((p) => p.reachable);
  if (reaching.length) {
    return { state: "Alert", reason: `reachable from ${reaching.map((p) => p.neighbour).join(", ")}: it may still run its VMs, nothing restarted` };
  }
  if (!i.storageHeartbeatDir) {
    return { state: "Alert", reason: "it has no storage heartbeat (never fenced automatically): declare it Down once it is fenced by hand" };
  }
  if (i.selfFenceAfterMs <= 0) {
    return { state: "Alert", reason: "self-fencing is off (kvm.heartbeat.update.timeout): declare it Down once it is fenced by hand" };
  }
  const limit = i.selfFenceAfterMs + i.marginMs;
  const seen = answered.filter((p) => p.storageHeartbeatSeen && p.storageHeartbeatAgeMs >= 0);
  if (seen.length === 0) {
    return { state: "Alert", reason: "no neighbour sees its storage heartbeat: whether it fenced itself is unknown, nothing restarted" };
  }
  const freshest = Math.min(...seen.map((p) => p.storageHeartbeatAgeMs));
  if (freshest <= 2 * i.heartbeatIntervalMs) {
    return { state: "Alert", reason: `its storage heartbeat is still written (${freshest} ms old): it is alive without reaching the manager, nothing restarted` };
  }
  if (freshest <= limit) {
    return { state: "Suspect", reason: `unreachable and its storage heartbeat stopped ${freshest} ms ago: waiting until it is past ${limit} ms (self-fenced) before declaring it Down` };
  }
  return {
    state: "Down",
    reason: `unreachable from ${answered.map((p) => p.neighbour).join(", ")} and its storage heartbeat is ${freshest} ms old (past ${limit} ms): it fenced itself or is dead`,
  };
}
