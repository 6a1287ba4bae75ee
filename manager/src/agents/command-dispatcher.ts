// Sends a command to a host's agent and records it. The command id is chosen by the caller and
// kept across retries, so the agent executes it at most once.
import { eq } from "drizzle-orm";
import { fromErrorInfo, toErrorInfo } from "#shared/errors.js";
import type { Command, CommandResult } from "#shared/protocol.js";
import type { Db } from "../db/database.js";
import { commands } from "../db/schema.js";
import type { AgentSessions } from "./agent-sessions.js";

export class CommandDispatcher {
  constructor(private readonly db: Db, private readonly sessions: AgentSessions) {}

  /** Resolves with the result when ok; throws the agent's error (typed, with its retryable flag) otherwise. */
  async run(
    hostId: number, command: Command, opts: { vmId?: number; jobId?: number; timeoutMs: number },
  ): Promise<CommandResult> {
    const kind = command.body?.$case ?? "unknown";
    await this.db.insert(commands).values({
      id: command.commandId, hostId, vmId: opts.vmId ?? null, jobId: opts.jobId ?? null, kind, status: "sent",
    }).onConflictDoUpdate({ target: commands.id, set: { status: "sent" } });
    let result: CommandResult;
    try {
      result = await this.sessions.dispatch(hostId, command, opts.timeoutMs);
    } catch (e) {
      await this.db.update(commands).set({ status: "pending", error: toErrorInfo(e) }).where(eq(commands.id, command.commandId));
      throw e;
    }
    await this.record(result);
    if (!result.ok) throw fromErrorInfo(result.error ?? { code: "internal", message: "agent reported failure", retryable: false });
    return result;
  }

  async record(result: CommandResult): Promise<void> {
    await this.db.update(commands).set({
      status: result.ok ? "succeeded" : "failed",
      error: result.ok ? null : (result.error ?? null),
      completedAt: new Date(),
    }).where(eq(commands.id, result.commandId));
  }
}
