// Sends a command to a host's agent and records it. The command id is chosen by the caller and
// kept across retries, so the agent executes it at most once. A command for a host whose agent
// is away waits for the agent to reconnect, up to the host's liveness deadline (hosts/host-liveness.ts):
// a manager restart, or an agent's short absence, is waited out instead of failing the work.
import { and, eq, inArray, isNull, notInArray, or } from "drizzle-orm";
import { fromErrorInfo, toErrorInfo } from "#shared/errors.js";
import type { Command, CommandResult } from "#shared/protocol.js";
import type { Db } from "../db/database.js";
import { commands, hosts, jobs } from "../db/schema.js";
import type { AgentSessions } from "./agent-sessions.js";

export interface AgentLiveness {
  /** Until when (epoch ms) a host with this last heartbeat counts as alive. */
  aliveUntil(lastHeartbeatAt: Date | null): number;
}

export class CommandDispatcher {
  constructor(
    private readonly db: Db,
    private readonly sessions: AgentSessions,
    private readonly liveness: AgentLiveness,
    private readonly now: () => number = Date.now,
  ) {}

  /** Resolves with the result when ok; throws the agent's error (typed, with its retryable flag) otherwise. */
  async run(
    hostId: number, command: Command, opts: { vmId?: number; jobId?: number; timeoutMs: number },
  ): Promise<CommandResult> {
    const kind = command.body?.$case ?? "unknown";
    const row = { id: command.commandId, hostId, vmId: opts.vmId ?? null, jobId: opts.jobId ?? null, kind };
    let result: CommandResult;
    try {
      await this.agentConnected(hostId);
      await this.db.insert(commands).values({ ...row, status: "sent" })
        .onConflictDoUpdate({ target: commands.id, set: { status: "sent" } });
      result = await this.sessions.dispatch(hostId, command, opts.timeoutMs);
    } catch (e) {
      await this.db.insert(commands).values({ ...row, status: "pending", error: toErrorInfo(e) })
        .onConflictDoUpdate({ target: commands.id, set: { status: "pending", error: toErrorInfo(e) } });
      throw e;
    }
    await this.record(result);
    if (!result.ok) throw fromErrorInfo(result.error ?? { code: "internal", message: "agent reported failure", retryable: false });
    return result;
  }

  /** Waits for the host's agent until the host's liveness deadline; AgentUnavailableError after it. */
  private async agentConnected(hostId: number): Promise<void> {
    if (this.sessions.isConnected(hostId)) return;
    const [h] = await this.db.select({ lastHeartbeatAt: hosts.lastHeartbeatAt }).from(hosts).where(eq(hosts.id, hostId));
    const until = this.liveness.aliveUntil(h?.lastHeartbeatAt ?? null);
    const last = h?.lastHeartbeatAt ? `last heartbeat ${h.lastHeartbeatAt.toISOString()}` : "no heartbeat yet";
    await this.sessions.waitForSession(hostId, until - this.now(),
      `agent of host ${hostId} is not connected and did not reconnect before its liveness deadline ${new Date(until).toISOString()} (${last})`);
  }

  async record(result: CommandResult): Promise<void> {
    await this.db.update(commands).set({
      status: result.ok ? "succeeded" : "failed",
      error: result.ok ? null : (result.error ?? null),
      completedAt: new Date(),
    }).where(eq(commands.id, result.commandId));
  }

  /**
   * Closes (failed, with the reason) the commands still open whose job will never wait for them
   * again: the job ended, or there is none. Optionally only one host's or one job's. A late answer
   * from the agent still overwrites this (record), since the host's word is the truth.
   */
  async closeAbandoned(reason: string, scope: { hostId?: number; jobId?: number } = {}): Promise<number> {
    const activeJobs = this.db.select({ id: jobs.id }).from(jobs).where(inArray(jobs.status, ["pending", "running"]));
    const rows = await this.db.update(commands).set({
      status: "failed",
      error: { code: "agent_unavailable", message: reason, retryable: false },
      completedAt: new Date(),
    }).where(and(
      inArray(commands.status, ["pending", "sent"]),
      scope.hostId !== undefined ? eq(commands.hostId, scope.hostId) : undefined,
      scope.jobId !== undefined ? eq(commands.jobId, scope.jobId) : or(isNull(commands.jobId), notInArray(commands.jobId, activeJobs)),
    )).returning({ id: commands.id });
    return rows.length;
  }
}
