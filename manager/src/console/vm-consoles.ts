// open-console and close-console: a one-time token for the console of a running VM the caller
// may see (the route checked the account), and the end of every session and unused token of it.
// With several managers a session lives on the manager holding the host's stream: close-console
// answered elsewhere tells the others through PostgreSQL (CONSOLE_CLOSE_CHANNEL).
import { eq, sql } from "drizzle-orm";
import { ConflictError } from "#shared/errors.js";
import type { Db } from "../db/database.js";
import type { PgNotificationListener } from "../db/pg-notification-listener.js";
import { vms } from "../db/schema.js";
import type { ConsoleRelay } from "./console-relay.js";
import type { ConsoleTokens } from "./console-tokens.js";

export const CONSOLE_CLOSE_CHANNEL = "orbit_console_close";

/** The VM as the caller may see it (its account already checked). */
export interface ConsoleVm {
  id: number;
  uuid: string;
  state: string;
}

export class VmConsoles {
  constructor(
    private readonly db: Db,
    private readonly tokens: Pick<ConsoleTokens, "issue" | "revokeVm">,
    private readonly relay: Pick<ConsoleRelay, "closeVm">,
    /** Several managers: other managers' sessions are closed through a notification. */
    private readonly peers = false,
  ) {}

  /** A token for the VM's console; ConflictError (naming the state) unless it is running on a host. */
  async open(vm: ConsoleVm): Promise<{ token: string; expiresAt: Date }> {
    if (vm.state !== "Running") throw new ConflictError(`VM ${vm.id} is ${vm.state}: its console opens only while it is Running`, vm.state);
    // Users' views of a VM do not name its host, so the host comes from the VM's row.
    const [placed] = await this.db.select({ hostId: vms.hostId }).from(vms).where(eq(vms.id, vm.id));
    const hostId = placed?.hostId ?? null;
    if (hostId === null) throw new ConflictError(`VM ${vm.id} has no host (state ${vm.state}): it has no console`, vm.state);
    return this.tokens.issue({ vmId: vm.id, vmUuid: vm.uuid, hostId });
  }

  /** Ends the VM's open sessions and forgets its unused tokens; answers how many sessions this manager ended. */
  async close(vm: ConsoleVm): Promise<number> {
    await this.tokens.revokeVm(vm.id);
    // Its own sessions first: this manager hears its own notification too, and closing them there
    // first would leave this count at 0.
    const closed = this.relay.closeVm(vm.id);
    if (this.peers) await this.db.execute(sql`select pg_notify(${CONSOLE_CLOSE_CHANNEL}, ${String(vm.id)})`);
    return closed;
  }

}

/** Closes this manager's sessions of VMs whose console another manager closed. */
export function followConsoleCloses(listener: PgNotificationListener, relay: Pick<ConsoleRelay, "closeVm">): void {
  listener.on(CONSOLE_CLOSE_CHANNEL, "console close", (payload) => {
    const vmId = Number(payload);
    if (Number.isInteger(vmId)) relay.closeVm(vmId);
  });
}
