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
import type { Heartbeat } from "#shared/protocol.js";
import type { HostStreamHandler } from "../agents/agent-gateway.js";

// The two 32-bit FNV-1a lanes (different offsets and primes) of the digest being computed: module
// state rather than a returned pair, so hashing allocates nothing (reportDigest is synchronous).
let laneA = 0, laneB = 0;

function mixCode(c: number): void {
  laneA = Math.imul(laneA ^ c, 0x01000193);
  laneB = Math.imul(laneB ^ c, 0x0100019d);
}

/** Mixes a string, then a separator; ASCII letters lowercased when `lower`. */
function mixString(s: string, lower: boolean): void {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    mixCode(lower && c >= 65 && c <= 90 ? c + 32 : c);
  }
  mixCode(0x10000);
}

/** MurmurHash3's finalizer: FNV's last bytes barely reach its high bits, and the sums below would cancel out (two domains swapping states). */
function avalanche(h: number): number {
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return h ^ (h >>> 16);
}

/**
 * A digest of what a heartbeat reports that reconciliation reads (not its seq, clock or free
 * memory): boot id, and each domain's uuid, name, power state and reason, whatever their order.
 * Computed on every heartbeat of every host, so without a cryptographic hash, a sort or a string
 * per domain: each domain hashes to 64 bits (two FNV-1a lanes, finalized), summed (order does not matter).
 * Not collision-proof against a host crafting its own report; a collision would only put off
 * that host's reconcile to its periodic full pass.
 */
export function reportDigest(hb: Heartbeat): string {
  let sumA = 0, sumB = 0;
  for (const d of hb.domains) {
    laneA = 0x811c9dc5;
    laneB = 0x050c5d1f;
    mixString(d.vmUuid, true);
    mixString(d.name, false);
    mixCode(d.powerState);
    mixString(d.reason ?? "", false);
    sumA = (sumA + avalanche(laneA)) | 0;
    sumB = (sumB + avalanche(laneB)) | 0;
  }
  return `${hb.domains.length}:${(sumA >>> 0).toString(36)}:${(sumB >>> 0).toString(36)}:${hb.bootId ?? ""}`;
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
    if (!last) return true;
    const now = this.now();
    const activeUntil = this.activeUntil.get(hostId);
    if (activeUntil !== undefined) {
      if (activeUntil > now) return true;
      this.activeUntil.delete(hostId);
    }
    return last.dueAt <= now || last.digest !== reportDigest(hb);
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
