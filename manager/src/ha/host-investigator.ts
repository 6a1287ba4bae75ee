// HA's investigation of hosts that missed their heartbeats (Suspect), run after every liveness
// check: up to ha.probe.neighbours Up hosts of the same cluster that have a storage heartbeat dir
// are sent ProbeHost for it at once; their answers (the evidence) are decided by
// ha-decision.ts: Down (then host-failover.ts restarts its HA VMs elsewhere) or Alert (nothing
// restarted; investigated again every ha.alert.recheck.interval.ms). The evidence, the reason and
// the time are kept on the host (GET /v1/admin/hosts/{id}). A host that reports again is Up from
// any of these states (host liveness). An admin may declare a host Down by hand once they fenced
// it themselves (declareDown).
import { and, desc, eq, inArray, isNull, lt, ne, or } from "drizzle-orm";
import type { Logger } from "pino";
import { ConflictError, NotFoundError } from "#shared/errors.js";
import type { ProbeResult } from "#shared/protocol.js";
import type { Db } from "../db/database.js";
import { hosts, type HostProbeEvidenceJson } from "../db/schema.js";
import { generationToken } from "../hosts/host-generation.js";
import { decideSuspectHost, type HaVerdict } from "./ha-decision.js";
import type { HaSettings } from "./ha-settings.js";
import type { HostFailover } from "./host-failover.js";

/** Asks a neighbour to probe a host (CommandDispatcher.probeHost; a fake in unit tests). */
export interface HostProber {
  probeHost(neighbourHostId: number, target: { hostUuid: string; address: string }, timeoutMs: number): Promise<ProbeResult>;
}

type HostRow = typeof hosts.$inferSelect;

export class HostInvestigator {
  constructor(
    private readonly db: Db,
    private readonly prober: HostProber,
    /**
     * Whether a probe can reach this neighbour now: its stream is held here, or (several managers,
     * commands routed through PostgreSQL) by another manager. Streams held here are asked first.
     */
    private readonly reach: (host: { id: number; connectedManagerId: string | null }) => "here" | "routed" | "no",
    private readonly settings: HaSettings,
    private readonly failover: Pick<HostFailover, "failover">,
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
  ) {}

  /** One round: investigate Suspect hosts and Alert hosts due again, then fail over Down hosts' VMs. */
  async check(): Promise<void> {
    if (!this.settings.enabled()) return;
    const recheckBefore = new Date(this.now() - this.settings.alertRecheckMs());
    const due = await this.db.select().from(hosts).where(or(
      eq(hosts.state, "Suspect"),
      and(eq(hosts.state, "Alert"), or(isNull(hosts.haCheckedAt), lt(hosts.haCheckedAt, recheckBefore))),
    ));
    await Promise.all(due.map((h) => this.investigate(h).catch((e: unknown) => {
      this.log.error({ err: e, hostId: h.id }, "HA: investigating a host failed; tried again at the next check");
    })));
    const down = await this.db.select({ id: hosts.id }).from(hosts).where(eq(hosts.state, "Down"));
    for (const h of down) await this.failover.failover(h.id);
  }

  /** Probes the host through its neighbours, decides, and records the verdict (only while it is still Suspect or Alert). */
  async investigate(host: HostRow): Promise<HaVerdict> {
    const evidence = await this.probe(host);
    const verdict = decideSuspectHost({
      storageHeartbeatDir: host.storageHeartbeatDir,
      selfFenceAfterMs: this.settings.selfFenceAfterMs(),
      marginMs: this.settings.fenceMarginMs(),
      heartbeatIntervalMs: this.settings.storageHeartbeatIntervalMs(),
      // Never heard from: as silent as can be (the agent has no contact to count from either).
      managerSilentForMs: host.lastHeartbeatAt ? this.now() - host.lastHeartbeatAt.getTime() : Number.MAX_SAFE_INTEGER,
      probes: evidence,
    });
    const changed = await this.db.update(hosts).set({
      state: verdict.state, haReason: verdict.reason, haEvidence: evidence, haCheckedAt: new Date(this.now()), updatedAt: new Date(),
      ...(verdict.state !== host.state ? { generation: generationToken() } : {}),
    }).where(and(eq(hosts.id, host.id), inArray(hosts.state, ["Suspect", "Alert"]))).returning({ id: hosts.id });
    if (changed.length === 0) return verdict; // It reported again meanwhile: Up.
    if (verdict.state !== host.state) {
      this.log.warn({ hostId: host.id, host: host.name, state: verdict.state, reason: verdict.reason }, `HA: host ${verdict.state}`);
    }
    if (verdict.state === "Down") await this.failover.failover(host.id);
    return verdict;
  }

  private async probe(host: HostRow): Promise<HostProbeEvidenceJson[]> {
    const candidates = (await this.db.select({ id: hosts.id, name: hosts.name, connectedManagerId: hosts.connectedManagerId }).from(hosts).where(and(
      eq(hosts.clusterId, host.clusterId), eq(hosts.state, "Up"), ne(hosts.id, host.id), ne(hosts.storageHeartbeatDir, ""),
    )).orderBy(desc(hosts.lastHeartbeatAt))).map((n) => ({ ...n, reach: this.reach(n) }));
    // The HA duty runs on one manager; with several, most neighbours may be connected to others.
    const neighbours = [...candidates.filter((n) => n.reach === "here"), ...candidates.filter((n) => n.reach === "routed")]
      .slice(0, this.settings.probeNeighbours());
    const timeoutMs = this.settings.probeTimeoutMs();
    return Promise.all(neighbours.map(async (n): Promise<HostProbeEvidenceJson> => {
      try {
        const r = await this.prober.probeHost(n.id, { hostUuid: host.uuid, address: host.clusterAddress }, timeoutMs);
        return {
          neighbourHostId: n.id, neighbour: n.name, answered: true, reachable: r.reachable,
          storageHeartbeatSeen: r.storageHeartbeatSeen, storageHeartbeatAgeMs: Number(r.storageHeartbeatAgeMs), detail: r.detail,
        };
      } catch (e) {
        return {
          neighbourHostId: n.id, neighbour: n.name, answered: false, reachable: false, storageHeartbeatSeen: false,
          storageHeartbeatAgeMs: -1, detail: e instanceof Error ? e.message : String(e),
        };
      }
    }));
  }

  /**
   * An admin declares a host Down after fencing it themselves (power cut, IPMI): only from Suspect
   * or Alert (an Up host is heard from: 409). Its VMs are then failed over as for an automatic Down.
   */
  async declareDown(hostId: number, note: string): Promise<{ state: "Down"; reason: string }> {
    const [h] = await this.db.select({ state: hosts.state, name: hosts.name }).from(hosts).where(eq(hosts.id, hostId));
    if (!h) throw new NotFoundError("host", hostId);
    if (h.state === "Down") throw new ConflictError(`host ${hostId} is already Down`, h.state);
    if (h.state !== "Suspect" && h.state !== "Alert") {
      throw new ConflictError(`host ${hostId} is ${h.state}: only a Suspect or Alert host (one that stopped reporting) can be declared Down`, h.state);
    }
    const reason = `declared Down by an admin (fenced by hand)${note ? `: ${note}` : ""}`;
    const changed = await this.db.update(hosts).set({ state: "Down", haReason: reason, updatedAt: new Date(), generation: generationToken() })
      .where(and(eq(hosts.id, hostId), inArray(hosts.state, ["Suspect", "Alert"]))).returning({ id: hosts.id });
    if (changed.length === 0) throw new ConflictError(`host ${hostId} reported again while being declared Down: it is Up`, "Up");
    this.log.warn({ hostId, host: h.name, reason }, "HA: host declared Down by an admin");
    await this.failover.failover(hostId);
    return { state: "Down", reason };
  }
}
