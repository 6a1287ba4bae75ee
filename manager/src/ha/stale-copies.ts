// Stale copies: domains a host that was lost may still hold, of VMs restarted elsewhere, gone Down
// or deleted while it was away (stale_copies rows, written by host-failover.ts and the delete).
// When the host connects again, before its stream's first message is handled (so before its
// first heartbeat marks it Up and reaches the reconciler), each is destroyed with DestroyVm: the
// disks a restarted VM owns are kept (shared: they are the new instance's), a deleted VM's
// removed. A heartbeat that still reports one sends it again. The dispatcher separately refuses
// any start of a VM on a host other than its own (command-dispatcher.ts), so a stale copy can
// never be started by the manager.
// The destroys are sent without waiting for their answers in the stream's handler: answers
// arrive on the same stream, after it.
import { randomUUID } from "node:crypto";
import { and, eq, isNull } from "drizzle-orm";
import type { Logger } from "pino";
import type { Heartbeat } from "#shared/protocol.js";
import type { HostStreamHandler } from "../agents/agent-gateway.js";
import type { CommandDispatcher } from "../agents/command-dispatcher.js";
import type { Db, Tx } from "../db/database.js";
import { staleCopies } from "../db/schema.js";

/** Records that a host may still hold a copy of the VM's domain (destroyed when it reports it). */
export async function rememberStaleCopy(tx: Tx | Db, hostId: number, vm: { id: number; uuid: string }, reason: string, removeOwnedDisks: boolean): Promise<void> {
  await tx.insert(staleCopies).values({ hostId, vmId: vm.id, vmUuid: vm.uuid, reason, removeOwnedDisks })
    .onConflictDoUpdate({
      target: [staleCopies.hostId, staleCopies.vmId],
      set: { reason, removeOwnedDisks, destroyedAt: null, destroyCommandId: null, createdAt: new Date() },
    });
}

export class StaleCopies {
  /** Copies whose destroy is in flight ("<host>/<vm>"). */
  private readonly inFlight = new Map<string, Promise<void>>();

  constructor(
    private readonly db: Db,
    private readonly dispatcher: Pick<CommandDispatcher, "destroyStaleCopy">,
    private readonly log: Logger,
    private readonly timeoutMs: () => number,
  ) {}

  /** Wraps the stream handler: stale copies are destroyed first when a host connects and when it reports them. */
  destroyedFirst(next: HostStreamHandler): HostStreamHandler {
    return {
      onConnected: async (hostId) => { await this.destroyPending(hostId); await next.onConnected(hostId); },
      onHeartbeat: async (hostId, hb) => { await this.destroyPending(hostId, hb); await next.onHeartbeat(hostId, hb); },
      onDomainEvent: (hostId, e) => next.onDomainEvent(hostId, e),
      onLateResult: (hostId, r) => next.onLateResult(hostId, r),
      onDisconnected: (hostId) => next.onDisconnected(hostId),
    };
  }

  /** Sends DestroyVm for the host's pending stale copies (those a heartbeat reports, or all on connect). */
  async destroyPending(hostId: number, hb?: Heartbeat): Promise<number> {
    const pending = await this.db.select().from(staleCopies).where(and(eq(staleCopies.hostId, hostId), isNull(staleCopies.destroyedAt)));
    if (pending.length === 0) return 0;
    const reported = hb ? new Set(hb.domains.map((d) => d.vmUuid.toLowerCase())) : undefined;
    let sent = 0;
    for (const c of pending) {
      const key = `${hostId}/${c.vmId}`;
      if (this.inFlight.has(key)) continue;
      if (reported && !reported.has(c.vmUuid)) continue;
      const commandId = randomUUID();
      await this.db.update(staleCopies).set({ destroyCommandId: commandId }).where(eq(staleCopies.id, c.id));
      this.log.warn({ hostId, vmId: c.vmId, reason: c.reason }, "HA: destroying a stale copy of a VM on a host that came back");
      const p = this.dispatcher.destroyStaleCopy(hostId, { id: c.vmId, uuid: c.vmUuid }, { commandId, removeOwnedDisks: c.removeOwnedDisks, timeoutMs: this.timeoutMs() })
        .then(async () => {
          await this.db.update(staleCopies).set({ destroyedAt: new Date() }).where(and(eq(staleCopies.id, c.id), eq(staleCopies.destroyCommandId, commandId)));
        })
        .catch((e: unknown) => { this.log.warn({ err: e, hostId, vmId: c.vmId }, "HA: destroying a stale copy failed; tried again when the host reports it"); })
        .finally(() => { this.inFlight.delete(key); });
      this.inFlight.set(key, p);
      sent++;
    }
    return sent;
  }

  /** Waits for the destroys in flight (tests, shutdown). */
  async drain(): Promise<void> {
    await Promise.all(this.inFlight.values());
  }
}
