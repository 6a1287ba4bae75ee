// A VM's or a volume's callback URL (Hyperstack's attach/update/delete-callback) and its
// deliveries as the user sees them. Scoped like the resource: another account's VM or volume is
// not found. Changing the URL sends the callbacks still pending to the new one; removing it
// cancels them.
import { and, desc, eq, inArray, isNull } from "drizzle-orm";
import { ConflictError, NotFoundError } from "#shared/errors.js";
import type { Db, Tx } from "../db/database.js";
import { callbackAttempts, callbackDeliveries, vms, volumes, type CallbackDeliveryStatus } from "../db/schema.js";
import { visibleVm, type EventCaller } from "../events/vm-event-service.js";
import { validateCallbackUrl, type CallbackAddressPolicy } from "./callback-url.js";

export interface CallbackAttempt { attempt: number; url: string; startedAt: Date; durationMs: number; statusCode: number | null; error: string | null }

export interface CallbackDelivery {
  id: number;
  eventId: string;
  eventType: string;
  url: string;
  status: CallbackDeliveryStatus;
  attempts: CallbackAttempt[];
  nextAttemptAt: Date | null;
  createdAt: Date;
  finishedAt: Date | null;
}

/** The newest deliveries shown per resource. */
export const MAX_DELIVERIES_SHOWN = 200;

/** What differs between the resources that have callback URLs. */
interface CallbackResource {
  /** In messages: "virtual machine", "volume". */
  what: string;
  /** The caller's resource's current URL, or a NotFoundError. */
  currentUrl(db: Db, caller: EventCaller, id: number): Promise<string>;
  writeUrl(tx: Tx, id: number, url: string): Promise<void>;
  deliveriesOf(id: number): ReturnType<typeof eq>;
}

const VM: CallbackResource = {
  what: "virtual machine",
  currentUrl: async (db, caller, id) => (await visibleVm(db, caller, id)).callbackUrl,
  writeUrl: async (tx, id, url) => { await tx.update(vms).set({ callbackUrl: url, updatedAt: new Date() }).where(eq(vms.id, id)); },
  deliveriesOf: (id) => eq(callbackDeliveries.vmId, id),
};

const VOLUME: CallbackResource = {
  what: "volume",
  currentUrl: async (db, caller, id) => {
    const [v] = await db.select({ url: volumes.callbackUrl }).from(volumes)
      .where(and(eq(volumes.id, id), eq(volumes.accountId, caller.accountId), isNull(volumes.deletedAt)));
    if (!v) throw new NotFoundError("volume", id);
    return v.url;
  },
  writeUrl: async (tx, id, url) => { await tx.update(volumes).set({ callbackUrl: url, updatedAt: new Date() }).where(eq(volumes.id, id)); },
  deliveriesOf: (id) => eq(callbackDeliveries.volumeId, id),
};

export class CallbackUrlService {
  private constructor(private readonly db: Db, private readonly policy: () => CallbackAddressPolicy, private readonly r: CallbackResource) {}

  /** VMs: the caller's (any for admins), not destroyed. */
  static forVms(db: Db, policy: () => CallbackAddressPolicy): CallbackUrlService {
    return new CallbackUrlService(db, policy, VM);
  }

  /** Volumes: the caller's account's, not deleted. */
  static forVolumes(db: Db, policy: () => CallbackAddressPolicy): CallbackUrlService {
    return new CallbackUrlService(db, policy, VOLUME);
  }

  /** Sets the URL of a resource that has none (the same URL again is accepted as is). */
  async attach(caller: EventCaller, id: number, rawUrl: string): Promise<string> {
    const url = validateCallbackUrl(rawUrl, "url", this.policy());
    const current = await this.r.currentUrl(this.db, caller, id);
    if (current !== "" && current !== url) {
      throw new ConflictError(`${this.r.what} ${id} already has a callback URL: change it with PUT .../update-callback or remove it with DELETE .../delete-callback`);
    }
    await this.setUrl(id, url);
    return url;
  }

  /** Replaces the URL of a resource that has one; its pending callbacks go to the new URL. */
  async update(caller: EventCaller, id: number, rawUrl: string): Promise<string> {
    const url = validateCallbackUrl(rawUrl, "url", this.policy());
    if (await this.r.currentUrl(this.db, caller, id) === "") {
      throw new ConflictError(`${this.r.what} ${id} has no callback URL: attach one with POST .../attach-callback`);
    }
    await this.setUrl(id, url);
    return url;
  }

  /** Removes the URL; callbacks not yet delivered are cancelled. */
  async remove(caller: EventCaller, id: number): Promise<void> {
    if (await this.r.currentUrl(this.db, caller, id) === "") throw new NotFoundError("callback URL", id, `${this.r.what} ${id} has no callback URL`);
    await this.setUrl(id, "");
  }

  private async setUrl(id: number, url: string): Promise<void> {
    await this.db.transaction(async (tx) => {
      await this.r.writeUrl(tx, id, url);
      const pending = and(this.r.deliveriesOf(id), eq(callbackDeliveries.status, "pending"));
      if (url === "") await tx.update(callbackDeliveries).set({ status: "cancelled", finishedAt: new Date() }).where(pending);
      else await tx.update(callbackDeliveries).set({ url }).where(pending);
    });
  }

  /** The resource's deliveries, newest first, each with its attempts (oldest first). */
  async deliveries(caller: EventCaller, id: number): Promise<CallbackDelivery[]> {
    await this.r.currentUrl(this.db, caller, id);
    const rows = await this.db.select().from(callbackDeliveries).where(this.r.deliveriesOf(id))
      .orderBy(desc(callbackDeliveries.id)).limit(MAX_DELIVERIES_SHOWN);
    const attempts = rows.length === 0 ? [] : await this.db.select().from(callbackAttempts)
      .where(inArray(callbackAttempts.deliveryId, rows.map((r) => r.id))).orderBy(callbackAttempts.id);
    return rows.map((r) => ({
      id: r.id, eventId: r.eventId, eventType: r.eventType, url: r.url, status: r.status,
      attempts: attempts.filter((a) => a.deliveryId === r.id).map((a) => ({
        attempt: a.attempt, url: a.url, startedAt: a.startedAt, durationMs: a.durationMs, statusCode: a.statusCode, error: a.error,
      })),
      nextAttemptAt: r.status === "pending" ? r.nextAttemptAt : null,
      createdAt: r.createdAt, finishedAt: r.finishedAt,
    }));
  }
}
