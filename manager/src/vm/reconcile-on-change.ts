// Which heartbeats are reconciled. A heartbeat whose report (boot id, each domain's uuid, name,
// power state and reason) is the one last reconciled for the host says nothing new: it only keeps
// the host alive (its routine path: host liveness, coalesced). The full path (stale copies, the VM
// reconciler) runs when the report changed, for the first heartbeat of each stream, after a
// failed pass, and at least every `fullEveryMs` per host (jittered ±25%, so hosts that connected
// together do not all come due in the same second): what changed on the manager's side alone (a
// VM's row moved by an admin, a stale copy recorded by HA) is never left for longer than that.
// A host brought back Up (it was Suspect, Alert or Down: its running VMs went Unknown) has its
// heartbeat reconciled at once.
// A host with activity (a command result or a domain event on its stream) has every heartbeat go
// the full path for `activeForMs` after it: the job that sent the command writes its outcome after
// the result arrives, and a heartbeat that disagrees with that outcome is reconciled at once, as
// before, rather than at the next periodic pass.
import { createHash } from "node:crypto";
import type { Heartbeat } from "#shared/protocol.js";
import type { HostStreamHandler } from "../agents/agent-gateway.js";

/** A digest of what a heartbeat reports that reconciliation reads (not its seq, clock or free memory). */
export function reportDigest(hb: Heartbeat): string {
  const h = createHash("sha1").update(hb.bootId ?? "");
  const domains = hb.domains.map((d) => `${d.vmUuid.toLowerCase()}\u0000${d.name}\u0000${d.powerState}\u0000${d.reason ?? ""}`).sort();
  for (const d of domains) h.update("\u0001").update(d);
  return h.digest("base64");
}

export interface ReconcileObserver {
  heartbeatReconciled(full: boolean): void;
}

interface Reconciled { digest: string; dueAt: number }

export class ReconcileOnChange {
  /** Per connected host: the report last reconciled and when a full pass is due anyway. */
  private readonly last = new Map<number, Reconciled>();
  /** Hosts with recent activity: every heartbeat goes the full path until then (epoch ms). */
  private readonly activeUntil = new Map<number, number>();

  constructor(private readonly o: {
    fullEveryMs: () => number; activeForMs?: number; now?: () => number; random?: () => number; observer?: ReconcileObserver;
  }) {}

  /** The host was brought back Up (hosts/heartbeat-coalescer.ts): its VMs may be Unknown, reconcile the heartbeat. */
  cameBackUp(hostId: number): void {
    this.last.delete(hostId);
  }

  /** A command result or domain event of the host: its heartbeats are reconciled for a while. */
  active(hostId: number): void {
    this.activeUntil.set(hostId, this.now() + (this.o.activeForMs ?? 10_000));
  }

  private now(): number { return (this.o.now ?? Date.now)(); }

  /** True when this heartbeat must go the full path. */
  due(hostId: number, hb: Heartbeat): boolean {
    const last = this.last.get(hostId);
    const activeUntil = this.activeUntil.get(hostId);
    if (activeUntil !== undefined) {
      if (activeUntil > this.now()) return true;
      this.activeUntil.delete(hostId);
    }
    return !last || last.dueAt <= this.now() || last.digest !== reportDigest(hb);
  }

  private reconciled(hostId: number, hb: Heartbeat): void {
    const jitter = 0.75 + 0.5 * (this.o.random ?? Math.random)();
    this.last.set(hostId, { digest: reportDigest(hb), dueAt: this.now() + this.o.fullEveryMs() * jitter });
  }

  /**
   * One handler of two: heartbeats that are due go to `full`, the rest to `routine`; everything
   * else goes to `full`. A stream opening or closing forgets the host's last report.
   */
  handler(full: HostStreamHandler, routine: Pick<HostStreamHandler, "onHeartbeat">): HostStreamHandler {
    return {
      onConnected: (hostId) => { this.last.delete(hostId); return full.onConnected(hostId); },
      onHeartbeat: async (hostId, hb) => {
        if (!this.due(hostId, hb)) {
          await routine.onHeartbeat(hostId, hb);
          // Still known: nothing more. Forgotten meanwhile (the host came back Up): reconciled after all.
          if (this.last.has(hostId)) { this.o.observer?.heartbeatReconciled(false); return; }
        }
        this.last.delete(hostId); // a pass cut short is tried again at the next heartbeat
        await full.onHeartbeat(hostId, hb);
        this.reconciled(hostId, hb);
        this.o.observer?.heartbeatReconciled(true);
      },
      onDomainEvent: (hostId, e) => { this.active(hostId); return full.onDomainEvent(hostId, e); },
      onLateResult: (hostId, r) => { this.active(hostId); return full.onLateResult(hostId, r); },
      onDisconnected: (hostId) => { this.last.delete(hostId); this.activeUntil.delete(hostId); return full.onDisconnected(hostId); },
    };
  }
}
