// The manager processes sharing one database. Each writes its row at start (its agent-facing
// and API addresses), refreshes last_seen_at every few seconds and deletes the row when it stops;
// a row not refreshed for `staleMs` is a manager that died. The live managers' agent addresses
// are what agents are told to fail over to (AgentSettings.manager_addresses).
import { randomUUID } from "node:crypto";
import { hostname } from "node:os";
import { and, asc, eq, gt, sql } from "drizzle-orm";
import type { Logger } from "pino";
import type { Db } from "../db/database.js";
import { hosts, managerInstances } from "../db/schema.js";

export const MANAGER_HEARTBEAT_MS = 3_000;
/** Five missed heartbeats: the manager is gone. */
export const MANAGER_STALE_MS = 15_000;

/** The agent address to advertise when none is configured: the gateway's, or this machine's name when it listens on every address. */
export function defaultAgentAddress(grpcHost: string, grpcPort: number): string {
  const any = grpcHost === "0.0.0.0" || grpcHost === "::" || grpcHost === "[::]" || grpcHost === "";
  const host = any ? hostname() : grpcHost;
  return `${host.includes(":") && !host.startsWith("[") ? `[${host}]` : host}:${grpcPort}`;
}

export interface PeerManagersOptions {
  db: Db;
  /** This process's id (default: a new one). */
  id?: string;
  log: Pick<Logger, "warn" | "info">;
  heartbeatMs?: number;
  staleMs?: number;
  /** The live managers' agent addresses changed (a manager started or died). */
  onChange?: (agentAddresses: string[]) => void;
  /** Told about errors; returns true when it was the database being unavailable. */
  onDatabaseUnavailable?: (e: unknown) => boolean;
}

export class PeerManagers {
  /** This process's id (manager_instances.id, hosts.connected_manager_id). */
  readonly id: string;
  private live: string[] = [];
  private timer: NodeJS.Timeout | undefined;
  private beating: Promise<void> = Promise.resolve();
  private self: { agentAddress: string; apiAddress: string } | undefined;

  constructor(private readonly o: PeerManagersOptions) {
    this.id = o.id ?? randomUUID();
  }

  /** Writes this manager's row (agentAddress: "host:port" agents dial it at) and reads the others'. */
  async start(self: { agentAddress: string; apiAddress: string }): Promise<void> {
    this.self = self;
    await this.upsert();
    await this.refresh();
    this.timer = setInterval(() => {
      this.beating = this.beat().catch((e: unknown) => {
        if (!this.o.onDatabaseUnavailable?.(e)) this.o.log.warn({ err: e }, "manager heartbeat failed");
      });
    }, this.o.heartbeatMs ?? MANAGER_HEARTBEAT_MS);
    this.timer.unref();
  }

  /** The live managers' agent addresses, oldest manager first (this one included). */
  agentAddresses(): string[] {
    return [...this.live];
  }

  /**
   * The API base URL of the live manager (not this one) holding the host's agent stream, or
   * undefined when none does (or this one does): where a console socket for it is forwarded.
   */
  async streamHolderApi(hostId: number): Promise<string | undefined> {
    const staleMs = this.o.staleMs ?? MANAGER_STALE_MS;
    const [row] = await this.o.db.select({ id: managerInstances.id, apiAddress: managerInstances.apiAddress }).from(hosts)
      .innerJoin(managerInstances, eq(managerInstances.id, hosts.connectedManagerId))
      .where(and(eq(hosts.id, hostId), gt(managerInstances.lastSeenAt, sql`now() - make_interval(secs => ${staleMs / 1000})`)));
    return row && row.id !== this.id && row.apiAddress ? row.apiAddress : undefined;
  }

  /** Removes this manager's row and its claim on hosts' streams (a clean stop). */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    if (!this.self) return;
    await this.beating;
    await this.o.db.update(hosts).set({ connectedManagerId: null }).where(eq(hosts.connectedManagerId, this.id));
    await this.o.db.delete(managerInstances).where(eq(managerInstances.id, this.id));
  }

  private async upsert(): Promise<void> {
    const row = { id: this.id, agentAddress: this.self!.agentAddress, apiAddress: this.self!.apiAddress, hostname: hostname(), pid: process.pid };
    await this.o.db.insert(managerInstances).values(row)
      .onConflictDoUpdate({ target: managerInstances.id, set: { lastSeenAt: sql`now()` } });
  }

  private async beat(): Promise<void> {
    // Its row deleted (an admin cleaning up, a long outage): written again.
    await this.upsert();
    await this.refresh();
  }

  private async refresh(): Promise<void> {
    const staleMs = this.o.staleMs ?? MANAGER_STALE_MS;
    const rows = await this.o.db.select({ agentAddress: managerInstances.agentAddress }).from(managerInstances)
      .where(and(gt(managerInstances.lastSeenAt, sql`now() - make_interval(secs => ${staleMs / 1000})`)))
      .orderBy(asc(managerInstances.startedAt), asc(managerInstances.id));
    const next = [...new Set(rows.map((r) => r.agentAddress))];
    if (next.length === this.live.length && next.every((a, i) => a === this.live[i])) return;
    this.live = next;
    this.o.log.info({ managers: next }, "live managers changed");
    this.o.onChange?.(next);
  }
}
