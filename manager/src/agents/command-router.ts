// Commands for hosts whose agent stream another manager holds (several managers on one
// PostgreSQL). The sender writes the command into its `commands` row (status routed, the
// Command as protobuf) and notifies HOST_COMMANDS_CHANNEL with the host id; the manager holding
// that host's stream takes the host's routed rows (FOR UPDATE SKIP LOCKED, status sent), sends
// them, writes each result into its row and notifies COMMAND_RESULTS_CHANNEL with the command
// id; the sender reads the result and resolves its waiter. A manager a host connects to takes
// the routed rows waiting for it, so a command outlives its host's move between managers.
// Nothing but PostgreSQL carries them: no broker. Same-manager commands never come here.
import { and, eq, gt, inArray, isNotNull, sql } from "drizzle-orm";
import type { Logger } from "pino";
import { AgentUnavailableError, DeadlineExceededError, toErrorInfo } from "#shared/errors.js";
import { Command, CommandResult } from "#shared/protocol.js";
import type { Db } from "../db/database.js";
import type { PgNotificationListener } from "../db/pg-notification-listener.js";
import { commands, hosts } from "../db/schema.js";
import type { HostStreamHandler } from "./agent-gateway.js";
import type { AgentSessions } from "./agent-sessions.js";

export const HOST_COMMANDS_CHANNEL = "orbit_host_commands";
export const COMMAND_RESULTS_CHANNEL = "orbit_command_results";
/** Waiters re-read their rows this often too: a notification lost with a connection is not waited out. */
const RECHECK_MS = 2_000;

export function encodeCommand(c: Command): string {
  return Buffer.from(Command.encode(c).finish()).toString("base64");
}
export function decodeCommand(s: string): Command {
  return Command.decode(Buffer.from(s, "base64"));
}
export function encodeResult(r: CommandResult): string {
  return Buffer.from(CommandResult.encode(r).finish()).toString("base64");
}
export function decodeResult(s: string): CommandResult {
  return CommandResult.decode(Buffer.from(s, "base64"));
}

interface Waiter {
  hostId: number;
  /** Not taken by a holder yet: past pickupBy it is withdrawn (the agent is away everywhere). */
  taken: boolean;
  timeoutMs: number;
  timer: NodeJS.Timeout | undefined;
  resolve: (r: CommandResult) => void;
  reject: (e: Error) => void;
}

export interface CommandRouterOptions {
  db: Db;
  sessions: AgentSessions;
  /** This manager (manager_instances.id): written into hosts.connected_manager_id for its streams. */
  managerId: string;
  log: Pick<Logger, "warn" | "info" | "debug">;
  now?: () => number;
}

export interface RouteOptions {
  vmId: number | null;
  jobId: number | null;
  kind: string;
  /** How long the agent gets once a holder has sent the command. */
  timeoutMs: number;
  /** Epoch ms: a command no manager has taken by then is withdrawn (AgentUnavailableError). */
  pickupBy: number;
}

export class CommandRouter {
  private readonly waiters = new Map<string, Waiter>();
  private recheckTimer: NodeJS.Timeout | undefined;
  private readonly now: () => number;
  private stopped = false;
  /** Following the channels (PostgreSQL): without them (PGlite, one manager) nothing is ever routed. */
  private following = false;

  constructor(private readonly o: CommandRouterOptions) {
    this.now = o.now ?? Date.now;
  }

  /** Subscribes to both channels (before the listener starts). */
  follow(listener: PgNotificationListener): void {
    this.following = true;
    listener.on(HOST_COMMANDS_CHANNEL, "command routing", (payload) => {
      const hostId = Number(payload);
      if (Number.isInteger(hostId) && this.o.sessions.isConnected(hostId)) void this.deliverPending(hostId);
    });
    listener.on(COMMAND_RESULTS_CHANNEL, "command routing", (commandId) => this.check(commandId));
    listener.onReconnected("command routing", async () => {
      for (const hostId of this.o.sessions.connectedHostIds()) void this.deliverPending(hostId);
      await this.checkAll();
    });
  }

  /** The gateway's handler, with this manager's claim on its hosts' streams and their routed commands. */
  handler(next: HostStreamHandler): HostStreamHandler {
    return {
      // Each step runs the next handler even when its own write fails (the gateway logs the error).
      onConnected: async (hostId) => {
        try {
          await this.o.db.update(hosts).set({ connectedManagerId: this.o.managerId }).where(eq(hosts.id, hostId));
        } finally {
          // Not awaited: the results come back through the stream's message chain this call is part of.
          if (this.following) void this.deliverPending(hostId);
          await next.onConnected(hostId);
        }
      },
      onHeartbeat: (hostId, hb) => next.onHeartbeat(hostId, hb),
      onDomainEvent: (hostId, e) => next.onDomainEvent(hostId, e),
      onLateResult: async (hostId, r) => {
        try {
          if (this.following) await this.writeResult(r);
        } finally {
          await next.onLateResult(hostId, r);
        }
      },
      onDisconnected: async (hostId) => {
        try {
          await this.o.db.update(hosts).set({ connectedManagerId: null })
            .where(and(eq(hosts.id, hostId), eq(hosts.connectedManagerId, this.o.managerId)));
        } finally {
          await next.onDisconnected(hostId);
        }
      },
    };
  }

  /**
   * Sends a command through the database to whichever manager holds (or next gets) the host's
   * stream, and waits for its result: AgentUnavailableError when no manager took it by pickupBy,
   * DeadlineExceededError when the agent did not answer within timeoutMs of being sent it.
   */
  async route(hostId: number, command: Command, o: RouteOptions): Promise<CommandResult> {
    if (this.stopped) throw new AgentUnavailableError(String(hostId), "manager stopping");
    const id = command.commandId;
    const pending = new Promise<CommandResult>((resolve, reject) => {
      this.waiters.set(id, { hostId, taken: false, timeoutMs: o.timeoutMs, timer: undefined, resolve, reject });
    });
    // Settled (a stop, a lost race) before this call awaits it below: not an unhandled rejection; the await still sees it.
    pending.catch(() => undefined);
    const row = {
      id, hostId, vmId: o.vmId, jobId: o.jobId, kind: o.kind, status: "routed" as const, error: null, result: null, completedAt: null,
      request: encodeCommand(command), timeoutMs: o.timeoutMs, deliverBy: new Date(o.pickupBy),
    };
    try {
      await this.o.db.transaction(async (tx) => {
        const { id: _id, ...again } = row;
        await tx.insert(commands).values(row).onConflictDoUpdate({ target: commands.id, set: again });
        // Delivered at commit: the holder reads a row that is there.
        await tx.execute(sql`select pg_notify(${HOST_COMMANDS_CHANNEL}, ${String(hostId)})`);
      });
    } catch (e) {
      this.waiters.delete(id);
      throw e;
    }
    const w = this.waiters.get(id);
    if (w && !w.taken) w.timer = setTimeout(() => void this.withdraw(id), Math.max(0, o.pickupBy - this.now()));
    this.scheduleRecheck();
    return pending;
  }

  /** No manager took the command by its pickup deadline: withdrawn, unless one takes it right now. */
  private async withdraw(id: string): Promise<void> {
    const w = this.waiters.get(id);
    if (!w || w.taken) return;
    try {
      const rows = await this.o.db.update(commands).set({
        status: "pending", error: { code: "agent_unavailable", message: "no manager held the host's stream before the deadline", retryable: true },
      }).where(and(eq(commands.id, id), eq(commands.status, "routed"))).returning({ id: commands.id });
      if (rows.length) {
        this.settle(id, new AgentUnavailableError(String(w.hostId), `agent of host ${w.hostId} is connected to no manager and did not connect before the deadline`));
        return;
      }
    } catch (e) {
      this.o.log.warn({ err: e, commandId: id }, "withdrawing a routed command failed; waiting for its result");
    }
    // Taken meanwhile: now the agent's time runs.
    await this.check(id);
    this.markTaken(id);
  }

  private markTaken(id: string): void {
    const w = this.waiters.get(id);
    if (!w || w.taken) return;
    w.taken = true;
    clearTimeout(w.timer);
    w.timer = setTimeout(() => {
      this.settle(id, new DeadlineExceededError(`host ${w.hostId} did not answer command ${id} within ${w.timeoutMs} ms (sent by another manager)`));
    }, w.timeoutMs);
  }

  private settle(id: string, outcome: CommandResult | Error): void {
    const w = this.waiters.get(id);
    if (!w) return;
    this.waiters.delete(id);
    clearTimeout(w.timer);
    if (outcome instanceof Error) w.reject(outcome);
    else w.resolve(outcome);
  }

  /** Re-reads a waited-for command's row: resolves it when its result is there. */
  private async check(id: string): Promise<void> {
    if (!this.waiters.has(id)) return;
    const [row] = await this.o.db.select({ status: commands.status, result: commands.result }).from(commands).where(eq(commands.id, id));
    if (row?.result) this.settle(id, decodeResult(row.result));
    else if (row?.status === "sent") this.markTaken(id);
  }

  private async checkAll(): Promise<void> {
    const ids = [...this.waiters.keys()];
    if (!ids.length) return;
    const rows = await this.o.db.select({ id: commands.id, status: commands.status, result: commands.result }).from(commands).where(inArray(commands.id, ids));
    for (const r of rows) {
      if (r.result) this.settle(r.id, decodeResult(r.result));
      else if (r.status === "sent") this.markTaken(r.id);
    }
  }

  private scheduleRecheck(): void {
    if (this.recheckTimer || this.stopped) return;
    this.recheckTimer = setInterval(() => {
      if (!this.waiters.size) {
        clearInterval(this.recheckTimer);
        this.recheckTimer = undefined;
        return;
      }
      this.checkAll().catch((e: unknown) => this.o.log.debug({ err: e }, "re-reading routed commands failed"));
    }, RECHECK_MS);
    this.recheckTimer.unref();
  }

  /**
   * Takes the host's routed commands still worth sending and sends them on its stream here, one
   * result written back (and announced) per command. A stream lost before the answer puts the
   * command back for the host's next manager.
   */
  async deliverPending(hostId: number): Promise<number> {
    let taken: { id: string; request: string | null; timeoutMs: number | null }[];
    try {
      taken = await this.o.db.transaction(async (tx) => {
        const waiting = tx.select({ id: commands.id }).from(commands)
          .where(and(eq(commands.hostId, hostId), eq(commands.status, "routed"), gt(commands.deliverBy, sql`now()`)))
          .for("update", { skipLocked: true });
        const list = await tx.update(commands).set({ status: "sent" }).where(inArray(commands.id, waiting))
          .returning({ id: commands.id, request: commands.request, timeoutMs: commands.timeoutMs });
        // Each sender learns its command is on a stream: its agent's time starts.
        for (const r of list) await tx.execute(sql`select pg_notify(${COMMAND_RESULTS_CHANNEL}, ${r.id})`);
        return list;
      });
    } catch (e) {
      this.o.log.warn({ err: e, hostId }, "taking routed commands failed; they are taken at the next notification");
      return 0;
    }
    for (const t of taken) void this.deliver(hostId, t.id, t.request, t.timeoutMs ?? 60_000);
    return taken.length;
  }

  private async deliver(hostId: number, id: string, request: string | null, timeoutMs: number): Promise<void> {
    if (!request) return;
    try {
      const result = await this.o.sessions.dispatch(hostId, decodeCommand(request), timeoutMs);
      await this.writeResult(result);
    } catch (e) {
      if (e instanceof AgentUnavailableError) {
        // The stream went before the answer: back to routed, for whichever manager the host reaches next.
        await this.o.db.transaction(async (tx) => {
          await tx.update(commands).set({ status: "routed", error: toErrorInfo(e) }).where(and(eq(commands.id, id), eq(commands.status, "sent")));
          await tx.execute(sql`select pg_notify(${HOST_COMMANDS_CHANNEL}, ${String(hostId)})`);
        }).catch((err: unknown) => this.o.log.warn({ err, commandId: id }, "putting a routed command back failed"));
        return;
      }
      // Deadline: the sender's own timer says so; a late answer still arrives as a late result.
      this.o.log.info({ err: (e as Error).message, commandId: id, hostId }, "routed command not answered in time");
    }
  }

  /**
   * Writes a routed command's result into its row and announces it; rows of commands sent from
   * this manager's own dispatcher (no request) are left to it. Late answers go the same way.
   */
  private async writeResult(r: CommandResult): Promise<void> {
    await this.o.db.transaction(async (tx) => {
      const rows = await tx.update(commands).set({
        status: r.ok ? "succeeded" : "failed", result: encodeResult(r), error: r.ok ? null : (r.error ?? null), completedAt: new Date(),
      }).where(and(eq(commands.id, r.commandId), isNotNull(commands.request))).returning({ id: commands.id });
      if (rows.length) await tx.execute(sql`select pg_notify(${COMMAND_RESULTS_CHANNEL}, ${r.commandId})`);
    });
  }

  /** Fails every waiter (the manager stops): their jobs retry elsewhere or later. */
  stop(): void {
    this.stopped = true;
    clearInterval(this.recheckTimer);
    for (const [id, w] of [...this.waiters]) this.settle(id, new AgentUnavailableError(String(w.hostId), "manager stopping before the routed command was answered"));
  }
}
