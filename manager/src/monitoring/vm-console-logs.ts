// Console logs as Hyperstack's request-then-fetch pair: a request records a row and asks the
// VM's agent for the tail of its serial console in the background; a fetch answers the row,
// waiting a little for a request still in flight.
import { and, eq } from "drizzle-orm";
import { ConflictError, NotFoundError, fromErrorInfo, toErrorInfo } from "#shared/errors.js";
import type { CommandDispatcher } from "../agents/command-dispatcher.js";
import type { Db } from "../db/database.js";
import { vmLogRequests, vms } from "../db/schema.js";

/** The most console output one request keeps (the tail). */
export const MAX_CONSOLE_LOG_BYTES = 64 * 1024;
/** The most lines a request may ask for. */
export const MAX_CONSOLE_LOG_LINES = 10_000;
const COMMAND_TIMEOUT_MS = 30_000;
/** How long a fetch waits for a request still in flight before answering "pending". */
const FETCH_WAIT_MS = 5_000;

/** The VM as the caller may see it (its account already checked); where it runs is read here. */
export interface ConsoleLogVm {
  id: number;
  uuid: string;
  state: string;
}

export type ConsoleLogRequest =
  | { id: number; status: "pending" }
  | { id: number; status: "succeeded"; logs: string; truncated: boolean };

/** The last `lines` lines of text (all of it when undefined); PostgreSQL text holds no NUL. */
export function consoleTail(text: string, lines: number | undefined): { text: string; cut: boolean } {
  const clean = text.replaceAll("\u0000", "");
  if (lines === undefined) return { text: clean, cut: false };
  const parts = clean.split("\n");
  // A final newline ends the last line; it does not start another.
  const trailing = parts.at(-1) === "" ? 1 : 0;
  const keep = parts.length - trailing;
  if (keep <= lines) return { text: clean, cut: false };
  return { text: parts.slice(keep - lines).join("\n"), cut: true };
}

export class VmConsoleLogs {
  private readonly inflight = new Map<number, Promise<void>>();

  constructor(private readonly db: Db, private readonly dispatcher: Pick<CommandDispatcher, "consoleLog">) {}

  /** Starts collecting the VM's console output; answers the request id at once. */
  async request(vm: ConsoleLogVm, lines: number | undefined): Promise<number> {
    // Users' views of a VM do not name its host, so the host comes from the VM's row.
    const [placed] = await this.db.select({ hostId: vms.hostId }).from(vms).where(eq(vms.id, vm.id));
    const hostId = placed?.hostId ?? null;
    if (hostId === null) throw new ConflictError(`VM ${vm.id} has no host yet (state ${vm.state}): it has no console output`, vm.state);
    const [row] = await this.db.insert(vmLogRequests).values({ vmId: vm.id, lines: lines ?? null, status: "pending" }).returning({ id: vmLogRequests.id });
    const id = row!.id;
    const work = this.collect(id, { hostId, vmId: vm.id, vmUuid: vm.uuid }, lines).finally(() => this.inflight.delete(id));
    this.inflight.set(id, work);
    return id;
  }

  private async collect(id: number, t: { hostId: number; vmId: number; vmUuid: string }, lines: number | undefined): Promise<void> {
    try {
      const log = await this.dispatcher.consoleLog({ ...t, timeoutMs: COMMAND_TIMEOUT_MS }, MAX_CONSOLE_LOG_BYTES);
      const tail = consoleTail(log.text, lines);
      await this.db.update(vmLogRequests).set({ status: "succeeded", logs: tail.text, truncated: log.truncated || tail.cut, completedAt: new Date() })
        .where(eq(vmLogRequests.id, id));
    } catch (e) {
      await this.db.update(vmLogRequests).set({ status: "failed", error: toErrorInfo(e), completedAt: new Date() }).where(eq(vmLogRequests.id, id))
        .catch(() => undefined);
    }
  }

  /** The request's answer; its error when collecting failed; "pending" while the agent has not answered. */
  async fetch(vmId: number, requestId: number): Promise<ConsoleLogRequest> {
    const inflight = this.inflight.get(requestId);
    if (inflight) await Promise.race([inflight, new Promise((r) => setTimeout(r, FETCH_WAIT_MS).unref())]);
    const [row] = await this.db.select().from(vmLogRequests).where(and(eq(vmLogRequests.id, requestId), eq(vmLogRequests.vmId, vmId)));
    if (!row) throw new NotFoundError("log_request", requestId, `VM ${vmId} has no console log request ${requestId}`);
    if (row.status === "failed") throw fromErrorInfo(row.error ?? { code: "internal", message: "collecting the console log failed", retryable: false });
    if (row.status === "pending") {
      // Made by a manager process that ended before the agent answered: it never will.
      if (!inflight && Date.now() - row.createdAt.getTime() > 2 * COMMAND_TIMEOUT_MS) {
        throw new ConflictError(`console log request ${requestId} was not answered (the manager restarted while collecting it): request the logs again`);
      }
      return { id: row.id, status: "pending" };
    }
    return { id: row.id, status: "succeeded", logs: row.logs ?? "", truncated: row.truncated };
  }

  /** Waits for the requests in flight (shutdown). */
  async drain(): Promise<void> {
    await Promise.allSettled([...this.inflight.values()]);
  }
}
